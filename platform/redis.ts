import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis as RedisServer, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConnection, RedisNode, ServiceConfig } from './config.ts';
import type { Logger } from './logger.ts';
import type * as StandaloneModule from 'ioredis/built/connectors/StandaloneConnector.js';

/** ioredis' connector of a plain connection (not exported by its index): openSubscriber's connector extends it. */
const StandaloneConnector: typeof StandaloneModule.default.default = createRequire(import.meta.url)('ioredis/built/connectors/StandaloneConnector.js').default;

/**
 * A process's Redis client: one server or a master behind Sentinel (ioredis `Redis`), or a Redis Cluster
 * (ioredis `Cluster`). Both speak the same commands; what differs is handled here: `duplicateRedis`,
 * `openSubscriber`, `scanKeys`, `getMany`/`setMany` (keys of several slots).
 */
export type Redis = RedisServer | Cluster;
export { Cluster, RedisServer };

const startupNodes = new WeakMap<Cluster, readonly RedisNode[]>();

/**
 * One ioredis client for a process (its owner closes it on shutdown). Absent connection means embedded
 * mode: callers fall back to their in-process store implementation. A string is a single server's URL.
 *
 * A cluster client reads and writes masters only (`scaleReads: 'master'`): replicas lag, and the live
 * state is read right after it is written (a driver's availability, a reservation). Sentinel: ioredis
 * asks the sentinels for the master and, told of a failover (`failoverDetector`), reconnects to the new one.
 */
export function createRedis(connection: RedisConnection | string | undefined, logger: Logger, name: string): Redis | undefined {
  if (!connection) return undefined;
  const target: RedisConnection = typeof connection === 'string' ? { kind: 'standalone', url: connection } : connection;
  const common: RedisOptions = { connectionName: `smartline-${name}`, maxRetriesPerRequest: 3 };
  let client: Redis;
  switch (target.kind) {
    case 'standalone':
      client = new RedisServer(target.url, { ...common, enableAutoPipelining: true });
      break;
    case 'sentinel':
      client = new RedisServer({
        ...common,
        enableAutoPipelining: true,
        sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
        name: target.name,
        password: target.password,
        sentinelPassword: target.sentinelPassword,
        failoverDetector: true,
      });
      break;
    case 'cluster': {
      const options: ClusterOptions = {
        redisOptions: { ...common, password: target.password },
        enableAutoPipelining: true,
        // ioredis finds no key in XGROUP (a container command), so auto-pipelining would batch it by its first
        // argument's slot; two streams' groups in one batch then get MOVED to two nodes, which a pipeline cannot
        // follow. Sent alone, it follows its MOVED like any command. (Every script defined with defineCommand
        // must have a fixed number of keys, its first argument then being its first key: a variable count
        // would be batched by the count's slot, as the drivers' nearby script once was.)
        autoPipeliningIgnoredCommands: ['xgroup'],
        scaleReads: 'master',
      };
      const cluster = new Cluster(target.nodes.map(({ host, port }) => ({ host, port })), options);
      startupNodes.set(cluster, target.nodes);
      client = cluster;
      break;
    }
  }
  client.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  return client;
}

export function isCluster(client: Redis): client is Cluster {
  return client instanceof Cluster;
}

/**
 * Another connection (or, for a cluster, another set of connections) to the same Redis, with some
 * options changed: blocking reads need their own. ioredis' `duplicate` takes different arguments for
 * the two kinds of client.
 */
export function duplicateRedis(client: Redis, options: Pick<RedisOptions, 'enableAutoPipelining' | 'maxRetriesPerRequest'>): Redis {
  if (!isCluster(client)) return client.duplicate(options);
  const { enableAutoPipelining, ...redisOptions } = options;
  const copy = client.duplicate([], {
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    redisOptions: { ...client.options.redisOptions, ...redisOptions },
  });
  const nodes = startupNodes.get(client);
  if (nodes) startupNodes.set(copy, nodes);
  return copy;
}

/**
 * The connection a process subscribes on (SUBSCRIBE; platform/pubsub.ts). A single server or Sentinel:
 * a duplicate, which ioredis reconnects (to the current master) and subscribes again. A cluster: classic
 * PUBLISH reaches every node of a cluster, so one connection to any node hears every channel. It is a
 * plain connection to a random master, and every reconnect goes to the next node the cluster knows, so
 * it survives the loss of the node it was on: ioredis subscribes its channels again and emits 'close'
 * then 'ready' as for a single server, which is what resynchronises the streams. (ioredis' own cluster
 * subscriber moves to another node too, but silently: nothing would tell the streams that messages were
 * lost meanwhile.)
 */
export function openSubscriber(client: Redis): RedisServer {
  if (!isCluster(client)) return client.duplicate({ enableAutoPipelining: false });
  const cluster = client;
  /** Masters first (a replica is the likelier node to be restarted or reassigned), then every other node known. */
  const known = () => {
    const seen = new Map<string, RedisNode>();
    for (const node of [...cluster.nodes('master'), ...cluster.nodes('all')]) {
      const { host, port } = node.options;
      if (host !== undefined && port !== undefined) seen.set(`${host}:${port}`, { host, port });
    }
    for (const node of startupNodes.get(cluster) ?? []) seen.set(`${node.host}:${node.port}`, node);
    return [...seen.values()];
  };
  let attempt = -1;
  const choose = (): RedisNode => {
    const nodes = known();
    if (nodes.length === 0) throw new Error('openSubscriber: the cluster client knows no node');
    // The first connection goes to a random master, so processes spread their subscribers.
    attempt = attempt < 0 ? Math.floor(Math.random() * Math.max(1, cluster.nodes('master').length)) : attempt + 1;
    return nodes[attempt % nodes.length]!;
  };
  /** Picks the node at every connect (the cluster's topology known by then), then connects as ioredis would. */
  class RotatingConnector extends StandaloneConnector {
    #closed = false;
    override async connect(onError: Parameters<InstanceType<typeof StandaloneModule.default.default>['connect']>[0]) {
      if (cluster.status !== 'ready') await Promise.race([once(cluster, 'ready'), sleep(2_000)]);
      if (this.#closed) throw new Error('Connection is closed.');
      const node = choose();
      this.options.host = node.host;
      this.options.port = node.port;
      return super.connect(onError);
    }
    override disconnect() {
      this.#closed = true;
      super.disconnect();
    }
  }
  const redisOptions = cluster.options.redisOptions ?? {};
  return new RedisServer({
    Connector: RotatingConnector as unknown as RedisOptions['Connector'],
    password: redisOptions.password,
    username: redisOptions.username,
    tls: redisOptions.tls,
    connectionName: `${redisOptions.connectionName ?? 'smartline'}-subscriber`,
    enableAutoPipelining: false,
    retryStrategy: (times) => Math.min(times * 50, 1_000),
  });
}

/**
 * A Redis Cluster hash tag: only what is inside the braces chooses the key's slot, so keys tagged with one
 * entity share a node (and may meet in one script) while entities spread over the cluster. Braces inside
 * `entity` are replaced: the tag must end where the entity does.
 */
export function hashTag(entity: string): string {
  return `{${entity.replace(/[{}]/g, '_')}}`;
}

/** Every key matching `pattern` (SCAN; on a cluster, on every master), in batches. */
export async function* scanKeys(client: Redis, pattern: string, count = 1_000): AsyncGenerator<string[]> {
  const servers = isCluster(client) ? client.nodes('master') : [client];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/** GET of many keys: one MGET on a single server; on a cluster, where the keys may lie in several slots, one GET each (auto-pipelined per node). */
export async function getMany(client: Redis, keys: readonly string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  if (!isCluster(client)) return client.mget(...keys);
  return Promise.all(keys.map((key) => client.get(key)));
}

/**
 * SET with a TTL of many keys: one MULTI on a single server (all or nothing); on a cluster, where the keys
 * may lie in several slots, one SET each (auto-pipelined per node): each key stands alone, a failure
 * rejects the whole call and may leave some keys set.
 */
export async function setMany(client: Redis, entries: ReadonlyArray<readonly [key: string, value: string]>, ttlSeconds: number): Promise<void> {
  if (entries.length === 0) return;
  if (isCluster(client)) {
    await Promise.all(entries.map(([key, value]) => client.set(key, value, 'EX', ttlSeconds)));
    return;
  }
  const batch = client.multi();
  for (const [key, value] of entries) batch.set(key, value, 'EX', ttlSeconds);
  const results = await batch.exec();
  const failed = results?.find(([error]) => error);
  if (!results || failed) throw failed?.[0] ?? new Error('Redis refused the batch');
}

export async function closeRedis(client: Redis | undefined) {
  if (!client) return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
    return;
  }
  // Behind Sentinel, QUIT leaves the failover detector's connections to the sentinels open (ioredis closes
  // them in its connector's disconnect only): they would keep the process alive, reconnecting.
  if (!isCluster(client) && client.options.sentinels) client.disconnect();
}

/**
 * The namespace of a deployment in Redis, inside every SmartLine key: after the owner
 * (`smartline:pricing:<ns>:quote:{<id>}`) or inside the key's tag (`smartline:events:{<ns>:<source>}`,
 * `smartline:drivers:{drv:<ns>:<bucket>}:...`).
 *
 * It is the name of the Postgres database: every replica of one deployment shares it (they must share
 * state), while every test stack, which gets a fresh database, gets its own, so parallel stacks on one
 * Redis never see each other's keys. The database name, not the whole URL: replicas may reach one
 * database through different hosts (a pooler, a replica), and must still agree. Embedded PGlite has no
 * database name; a digest of its data directory stands in. `keyPrefix` overrides all of it.
 *
 * The namespace is not a hash tag (on a Redis Cluster that would put a whole deployment in one slot):
 * keys are tagged by their entity (`hashTag`): a rate limit's caller, an APQ entry's hash, a quote, an
 * event stream, a bucket of drivers, a trip's offers (subgraphs/drivers/live/keys.ts).
 */
export function redisNamespace(config: Pick<ServiceConfig, 'databaseUrl' | 'dataDir'>, keyPrefix?: string): string {
  const raw =
    keyPrefix ??
    (config.databaseUrl
      ? decodeURIComponent(new URL(config.databaseUrl).pathname.replace(/^\//, '')) || 'postgres'
      : `pglite-${createHash('sha256').update(path.resolve(config.dataDir)).digest('hex').slice(0, 16)}`);
  return raw.replace(/[{}\s]/g, '_');
}
