/**
 * Redis behind Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME): a master, its replica and a sentinel of
 * the test's own on loopback. The client finds the master through the sentinel, and after the master dies
 * and the sentinel promotes the replica, commands and pub/sub carry on on the new master, pub/sub's streams
 * resynchronised (a message published during the gap is lost by pub/sub by design).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../platform/config.ts';
import { RedisPubSub } from '../../platform/pubsub.ts';
import { closeRedis, createRedis, type Redis } from '../../platform/redis.ts';
import { freePort, ownRedisUnavailable, spawnRedisServer } from '../support/redis-server.ts';
import { waitFor } from '../support/rides.ts';

const skip = ownRedisUnavailable();
if (skip) console.log(`# skipped: Redis behind Sentinel ${skip}`);

async function kill(child: ChildProcess | undefined) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

const logger = pino({ level: 'silent' });

describe('Redis behind Sentinel', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smartline-sentinel-'));
  let master: ChildProcess;
  let replica: ChildProcess;
  let sentinel: ChildProcess;
  let redis: Redis;
  let pubsub: RedisPubSub;

  before(async () => {
    const [masterPort, replicaPort] = [await freePort(), await freePort()];
    const sentinelPort = await freePort();
    const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    master = await spawnRedisServer(['--port', String(masterPort), ...common]);
    replica = await spawnRedisServer(['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(masterPort), ...common]);
    const config = path.join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor smartline 127.0.0.1 ${masterPort} 1`,
        'sentinel down-after-milliseconds smartline 1000',
        'sentinel failover-timeout smartline 5000',
      ].join('\n'),
    );
    sentinel = await spawnRedisServer([config, '--sentinel']);
    const connection = loadConfig('trips', { REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_SENTINEL_NAME: 'smartline' }).redis;
    redis = createRedis(connection, logger, 'sentinel-test')!;
    pubsub = new RedisPubSub(redis, logger);
  });
  after(async () => {
    await pubsub?.close();
    await closeRedis(redis);
    await Promise.all([kill(sentinel), kill(replica), kill(master)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the master through the sentinel, and carries on on the replica it promotes', async () => {
    await redis.set('smartline:test:{sentinel}', 'before');
    let resyncs = 0;
    const stream = pubsub.subscribe<{ n: string }>('smartline:test:channel', {
      resync: async () => {
        resyncs += 1;
        return [{ n: 'resynced' }];
      },
    });
    await stream.ready;
    // Everything the stream delivers, in order. Pub/sub promises at most once: while the set-up settles
    // under load (a reconnect, seen in CI runs) a message can be lost, and the resync stands in for it.
    // So each message is published until it arrives, and the test watches what arrived.
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of stream) seen.push(event.n);
    })();
    const publishUntilSeen = (n: string, what: string) =>
      waitFor(
        async () => {
          if (seen.includes(n)) return true;
          await pubsub.publish('smartline:test:channel', { n });
          return undefined;
        },
        { everyMs: 500, timeoutMs: 10_000, what },
      );
    await publishUntilSeen('first', 'a message published before the failover');
    resyncs = 0;
    const beforeFailover = seen.length;
    // The replica holds what the master acknowledged before it died.
    await waitFor(async () => ((await redis.call('WAIT', 1, 1_000)) as number) >= 1 || undefined, { what: 'the replica to acknowledge' });

    await kill(master);
    // The sentinel sees the master down after 1 s, promotes the replica; ioredis asks it for the new master.
    await waitFor(async () => (((await redis.call('ROLE').catch(() => ['unreachable'])) as unknown[])[0] === 'master' ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the client on the promoted replica',
    });
    assert.equal(await redis.get('smartline:test:{sentinel}'), 'before', 'what the replica held');
    await redis.set('smartline:test:{sentinel}', 'after');
    assert.equal(await redis.get('smartline:test:{sentinel}'), 'after');

    await waitFor(() => (seen.slice(beforeFailover).includes('resynced') ? true : undefined), { timeoutMs: 30_000, what: 'the resync after the failover' });
    assert.ok(resyncs >= 1);
    await publishUntilSeen('second', 'a message published on the new master');
    await stream.return?.();
    await reading;
  });
});
