/**
 * A Redis Cluster of the test's own on loopback: three masters and three replicas (redis-server
 * --cluster-enabled yes, joined by `redis-cli --cluster create --cluster-replicas 1`), nothing saved to
 * disk, everything stopped by `stop()`. For the tests that prove SmartLine on a cluster, failovers
 * included. Skipped (with the reason) where the binaries are absent.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { spawnRedisServer } from './redis-server.ts';

export interface ClusterNode {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
}

export interface OwnCluster {
  /** What REDIS_CLUSTER_NODES takes: every node, `127.0.0.1:<port>,...`. */
  readonly nodesEnv: string;
  readonly nodes: readonly ClusterNode[];
  /** The node that serves `key`'s slot now (a master). */
  masterOf(key: string): Promise<ClusterNode>;
  /** The port of the node a client named `name` (CLIENT SETNAME) is connected to, if any. */
  nodeOfClient(name: string): Promise<ClusterNode | undefined>;
  /** Whether the node is a master now. */
  isMaster(node: ClusterNode): Promise<boolean>;
  /** Kills a node at once (SIGKILL: a crash), and waits until it has exited. */
  kill(node: ClusterNode): Promise<void>;
  /** Starts a killed node again (empty; it rejoins the cluster, as a replica once its slots moved on) and waits until it has synchronised. */
  restart(node: ClusterNode): Promise<void>;
  /**
   * A master's failover as an operator would run it after losing it: its replica is promoted with
   * CLUSTER FAILOVER FORCE (the master is gone; the other masters vote), then the cluster is waited for
   * (every slot served, every live node agreeing). Returns the new master.
   */
  promoteReplicaOf(master: ClusterNode): Promise<ClusterNode>;
  /** Waits until every live node says cluster_state:ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes the cluster's files. */
  stop(): Promise<void>;
}

/** Why these tests cannot run here, or undefined when redis-server and redis-cli are installed. */
export function ownClusterUnavailable(): string | undefined {
  for (const binary of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    if (probe.error) return `needs the ${binary} binary (apt-get install redis-server) to start a Redis Cluster of its own`;
  }
  return undefined;
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A node's cluster bus port. Set (`--cluster-port`) rather than Redis' default port + 10000: both stay below
 * Linux's ephemeral range (32768+), where another process's client socket could take one between the check
 * and the start; and below CI's own cluster (scripts/redis-cluster.sh: 30000-30005, buses 31000-31005).
 */
const busPortOf = (port: number) => port + 5_000;

/** A free port (20000-24999) whose cluster bus port is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 5_000);
    if (taken.has(port) || taken.has(busPortOf(port))) continue;
    if ((await portFree(port)) && (await portFree(busPortOf(port)))) {
      taken.add(port);
      taken.add(busPortOf(port));
      return port;
    }
  }
  throw new Error('no free port pair for a cluster node');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startOwnCluster(options: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<OwnCluster> {
  const masters = options.masters ?? 3;
  const dir = mkdtempSync(path.join(tmpdir(), 'smartline-cluster-'));
  const taken = new Set<number>();
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < masters * 2; i++) {
    const port = await freeClusterPort(taken);
    nodes.push({ port, address: `127.0.0.1:${port}` });
  }
  const children = new Map<number, ChildProcess>();

  const startNode = async (node: ClusterNode) => {
    const child = await spawnRedisServer([
      '--port', String(node.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-port', String(busPortOf(node.port)), '--cluster-config-file', path.join(dir, `nodes-${node.port}.conf`),
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2_000), '--dir', dir,
    ]);
    children.set(node.port, child);
  };

  const kill = async (node: ClusterNode) => {
    const child = children.get(node.port);
    children.delete(node.port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };

  const stop = async () => {
    await Promise.all(nodes.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };

  /** One command on one node, on a short-lived connection. */
  const ask = async <T>(node: ClusterNode, ...args: Array<string | number>): Promise<T> => {
    const client = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.call(String(args[0]), ...args.slice(1))) as T;
    } finally {
      client.disconnect();
    }
  };
  const live = () => nodes.filter((node) => children.has(node.port));

  const waitHealthy = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const infos = await Promise.all(live().map((node) => ask<string>(node, 'CLUSTER', 'INFO')));
        if (infos.every((info) => info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384'))) return;
        last = infos.find((info) => !info.includes('cluster_state:ok')) ?? infos[0] ?? '';
      } catch (error) {
        last = String(error);
      }
      await sleep(100);
    }
    throw new Error(`the cluster did not become healthy within ${timeoutMs} ms: ${last.slice(0, 300)}`);
  };

  try {
    await Promise.all(nodes.map(startNode));
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => node.address), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed (${created.status}): ${(created.stdout + created.stderr).slice(-1_000)}`);
    await waitHealthy();
    // Every replica has synchronised with its master (a failover must have something to promote).
    const deadline = Date.now() + 30_000;
    for (const node of nodes) {
      for (;;) {
        const info = await ask<string>(node, 'INFO', 'replication');
        if (info.includes('role:master') || info.includes('master_link_status:up')) break;
        if (Date.now() > deadline) throw new Error(`replica ${node.address} did not synchronise: ${info}`);
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const isMaster = async (node: ClusterNode) => (await ask<unknown[]>(node, 'ROLE'))[0] === 'master';
  const byAddress = (address: string) => nodes.find((node) => node.address === address || `127.0.0.1:${address.split(':').pop()}` === node.address);

  const synchronised = async (node: ClusterNode) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await ask<string>(node, 'INFO', 'replication');
      if (info.includes('role:master') || info.includes('master_link_status:up')) return;
      if (Date.now() > deadline) throw new Error(`replica ${node.address} did not synchronise: ${info}`);
      await sleep(100);
    }
  };

  return {
    nodesEnv: nodes.map((node) => node.address).join(','),
    nodes,
    kill,
    async restart(node) {
      await startNode(node);
      await waitHealthy();
      await synchronised(node);
    },
    stop,
    waitHealthy,
    async masterOf(key) {
      for (const node of live()) {
        const slot = await ask<number>(node, 'CLUSTER', 'KEYSLOT', key);
        const shards = await ask<Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>>(node, 'CLUSTER', 'SLOTS');
        const range = shards.find(([from, to]) => slot >= from && slot <= to);
        const found = range && byAddress(`${range[2][0]}:${range[2][1]}`);
        if (found) return found;
      }
      throw new Error(`no node serves the slot of ${key}`);
    },
    async nodeOfClient(name) {
      for (const node of live()) {
        const clients = await ask<string>(node, 'CLIENT', 'LIST');
        if (clients.split('\n').some((line) => line.includes(` name=${name} `))) return node;
      }
      return undefined;
    },
    isMaster,
    async promoteReplicaOf(master) {
      // The replica's view: which node replicates the master.
      const survivors = live();
      const lines = (await ask<string>(survivors[0]!, 'CLUSTER', 'NODES')).split('\n').filter(Boolean);
      const masterLine = lines.find((line) => line.split(' ')[1]!.startsWith(`${master.address}@`));
      if (!masterLine) throw new Error(`${master.address} is not in the cluster`);
      const masterId = masterLine.split(' ')[0];
      const replicaLine = lines.find((line) => line.split(' ')[3] === masterId && line.split(' ')[2]!.includes('slave'));
      const replica = replicaLine && byAddress(replicaLine.split(' ')[1]!.split('@')[0]!);
      if (!replica) throw new Error(`${master.address} has no replica to promote`);
      const deadline = Date.now() + 30_000;
      while (!(await isMaster(replica))) {
        if (Date.now() > deadline) throw new Error(`${replica.address} was not promoted within 30 s`);
        try {
          await ask(replica, 'CLUSTER', 'FAILOVER', 'FORCE');
        } catch {
          // Already promoting, or the others have not noticed the failure yet: asked again below.
        }
        await sleep(500);
      }
      await waitHealthy();
      return replica;
    },
  };
}
