/**
 * Every user of Redis on a Redis Cluster client (platform/redis.ts createRedis with REDIS_CLUSTER_NODES):
 * the drivers' live store (its keys' spread: tests/subgraphs/drivers/live-cluster.test.ts), the event
 * streams (pipelines, groups, blocking reads on a duplicate), the router's rate limits
 * (rate-limiter-flexible's RateLimiterRedis) and APQ cache, quotes in several slots, SCAN on every
 * master, and pub/sub across nodes. On a cluster of the test's own (tests/support/redis-cluster.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig, SUBGRAPH_NAMES } from '../../platform/config.ts';
import { RedisPubSub } from '../../platform/pubsub.ts';
import { closeRedis, createRedis, getMany, hashTag, isCluster, scanKeys, setMany, type Cluster, type Redis } from '../../platform/redis.ts';
import { RedisStreamTransport } from '../../platform/events/transport.ts';
import { streamKey } from '../../platform/events/storage.ts';
import { DEFAULT_RULES } from '../../subgraphs/drivers/live/fixes.ts';
import { driverKeys } from '../../subgraphs/drivers/live/keys.ts';
import { RedisLiveStore } from '../../subgraphs/drivers/live/redis-store.ts';
import { redisStringCache } from '../../router/apq-cache.ts';
import { rateLimitsFeature } from '../../router/edge/features/rate-limits.ts';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/redis-cluster.ts';

const skip = ownClusterUnavailable();
if (skip) console.log(`# skipped: Redis users on a cluster client ${skip}`);

const logger = pino({ level: 'silent' });

describe('Redis users on a cluster client', { skip }, () => {
  let cluster: OwnCluster;
  let redis: Redis;
  before(async () => {
    cluster = await startOwnCluster();
    redis = createRedis(loadConfig('drivers', { REDIS_CLUSTER_NODES: cluster.nodesEnv }).redis, logger, 'cluster-test')!;
    assert.equal(isCluster(redis), true);
  });
  after(async () => {
    await closeRedis(redis);
    await cluster?.stop();
  });

  it('runs every drivers live-store script: ingest, transition, nearby, reserve, release, positions, sweep', async () => {
    const store = new RedisLiveStore(redis, driverKeys(`live-${randomUUID()}`), DEFAULT_RULES);
    const now = Date.now();
    const driver = { id: randomUUID(), userId: randomUUID(), vehicleType: 'COMFORT' as const };
    assert.equal((await store.transition(driver, 'AVAILABLE', ['OFFLINE'], now)).moved, true);
    const fix = { lat: 30.0444, lng: 31.2357, heading: null, speedKmh: null, accuracyM: 5, recordedAt: now };
    const outcome = await store.ingest(driver, [fix], { now, rateLimited: true });
    assert.equal(outcome.kind, 'JUDGED');
    const near = await store.nearby({ near: { lat: 30.0444, lng: 31.2357 }, radiusM: 1_000, first: 5, vehicleType: 'COMFORT' } as never, now - 60_000);
    assert.deepEqual(near.map((candidate) => candidate.driverId), [driver.id]);
    assert.equal((await store.availablePositions(now - 60_000)).length, 1);
    const tripId = randomUUID();
    assert.deepEqual(await store.reserve(tripId, [driver.id], now), [driver.id]);
    assert.equal((await store.read([driver.id])).get(driver.id)?.availability, 'OFFERED');
    await store.releaseTrip(tripId, null, now);
    assert.equal((await store.availability([driver.id])).get(driver.id), 'AVAILABLE');
    assert.deepEqual(await store.endCooldowns(now), []);
    assert.deepEqual(await store.sweep(now + DEFAULT_RULES.presenceTtlMs + 1_000, ['AVAILABLE']), [driver.id]);
  });

  it('runs a nearby search beside other nodes\' commands in one turn', async () => {
    // Regression: nearby was once a script whose first argument was its key count, not a key: auto-pipelined
    // by the slot of "1", it was batched with that node's commands and failed. Its GEOSEARCH and HMGETs must
    // each go with their own node's batch.
    const { slots } = redis as unknown as { slots: string[][] };
    const nodeOf = async (key: string) => slots[Number(await (redis as unknown as { cluster(...args: string[]): Promise<number> }).cluster('KEYSLOT', key))]![0];
    // A namespace whose geo sets are not on the node of the slot of "1".
    let namespace = '';
    do namespace = `near-${randomUUID()}`;
    while ((await nodeOf(driverKeys(namespace).geo('COMFORT'))) === (await nodeOf('1')));
    const store = new RedisLiveStore(redis, driverKeys(namespace), DEFAULT_RULES);
    const now = Date.now();
    const driver = { id: randomUUID(), userId: randomUUID(), vehicleType: 'COMFORT' as const };
    await store.transition(driver, 'AVAILABLE', ['OFFLINE'], now);
    await store.ingest(driver, [{ lat: 30.0444, lng: 31.2357, heading: null, speedKmh: null, accuracyM: 5, recordedAt: now }], { now, rateLimited: false });
    const [near, , one] = await Promise.all([
      store.nearby({ near: { lat: 30.0444, lng: 31.2357 }, radiusM: 1_000, first: 5, vehicleType: 'COMFORT' } as never, now - 60_000),
      store.read([driver.id]),
      redis.get('1'),
    ]);
    assert.deepEqual(near.map((candidate) => candidate.driverId), [driver.id]);
    assert.equal(one, null);
  });

  it('appends to a stream, reads it through a consumer group on a duplicate connection, acknowledges', async () => {
    const transport = new RedisStreamTransport(redis);
    const namespace = `events-${randomUUID()}`;
    // Regression: groups of streams in several slots created at once (a subgraph's start) once came back
    // MOVED (XGROUP auto-pipelined together by its first argument).
    await Promise.all(SUBGRAPH_NAMES.map((source) => transport.ensureGroup(streamKey(namespace, source), 'start')));
    const stream = streamKey(namespace, 'trips');
    assert.equal(await transport.markIntact(stream), false);
    assert.equal(await transport.markIntact(stream), true);
    await transport.ensureGroup(stream, 'wallet');
    await transport.append(stream, [{ type: 'A', payload: '{"n":1}' }, { type: 'B', payload: '{"n":2}' }]);
    const reader = transport.openReader();
    try {
      const entries = await reader.read(stream, 'wallet', 'c1', 10, 1_000);
      assert.deepEqual(entries.map((entry) => entry.type), ['A', 'B']);
      assert.equal((await transport.pending(stream, 'wallet', 0, 10)).length, 2);
      await transport.ack(stream, 'wallet', entries.map((entry) => entry.id));
      assert.equal((await transport.pending(stream, 'wallet', 0, 10)).length, 0);
    } finally {
      await reader.close();
    }
  });

  it('counts rate limits in the cluster (RateLimiterRedis) and shares them between two replicas', async () => {
    const namespace = `rl-${randomUUID()}`;
    const rateLimits = { ...loadConfig('router', {}).rateLimits, budgetSyncPercent: 0, anonymousPerMinute: 3 };
    const replicas = [0, 1].map(() => rateLimitsFeature({ redis, config: { rateLimits, databaseUrl: undefined, dataDir: '.data' }, logger, namespace }));
    const request = () => ({ connection: { transport: 'http', ip: '203.0.113.9', headers: {}, authorization: undefined, principal: undefined, state: new Map() }, state: new Map(), responseHeaders: {} }) as never;
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      try {
        await replicas[i % 2]!.request(request());
        outcomes.push('allowed');
      } catch (error) {
        outcomes.push((error as { code?: string }).code ?? String(error));
      }
    }
    assert.deepEqual(outcomes, ['allowed', 'allowed', 'allowed', 'RATE_LIMITED']);
    assert.equal(replicas[0]!.fallbacks + replicas[1]!.fallbacks, 0, 'no limiter fell back to counting in the process');

    // Keyed by caller, not by deployment: thirty callers' counters spread over the masters.
    const spread = rateLimitsFeature({ redis, config: { rateLimits, databaseUrl: undefined, dataDir: '.data' }, logger, namespace: `${namespace}-spread` });
    for (let i = 0; i < 30; i++) {
      await spread.request({ connection: { transport: 'http', ip: `198.51.100.${i}`, headers: {}, authorization: undefined, principal: undefined, state: new Map() }, state: new Map(), responseHeaders: {} } as never);
    }
    const masters = await Promise.all(
      (redis as Cluster).nodes('master').map(async (node) => (await node.scan('0', 'MATCH', `smartline:router:${namespace}-spread:*`, 'COUNT', 10_000))[1].length),
    );
    assert.equal(masters.reduce((sum, count) => sum + count, 0), 30);
    assert.ok(masters.filter((count) => count > 0).length >= 2, `counters on several masters: ${masters.join(', ')}`);
  });

  it('keeps APQ entries and quotes spread over slots (getMany, setMany), and finds keys on every master (scanKeys)', async () => {
    const prefix = `smartline:test:${randomUUID()}:`;
    const cache = redisStringCache(redis, { prefix, logger });
    await cache.set('apq:abc', 'query { a }', { ttl: 60 });
    assert.equal(await cache.get('apq:abc'), 'query { a }');
    const entries = Array.from({ length: 20 }, (_, i) => [`${prefix}${hashTag(`quote-${i}`)}`, `value-${i}`] as const);
    await setMany(redis, entries, 60);
    assert.deepEqual(await getMany(redis, [...entries.map(([key]) => key), `${prefix}{missing}`]), [...entries.map(([, value]) => value), null]);
    const found: string[] = [];
    for await (const batch of scanKeys(redis, `${prefix}*`)) found.push(...batch);
    assert.equal(found.length, 21, 'the quotes (in several slots, on several masters) and the APQ entry');
  });

  it('delivers pub/sub messages published through any node, in order per channel', async () => {
    const pubsub = new RedisPubSub(redis, logger);
    try {
      const channel = `smartline:test:{${randomUUID()}}`;
      const stream = pubsub.subscribe<{ n: number }>(channel);
      await stream.ready;
      for (let n = 0; n < 50; n++) void pubsub.publish(channel, { n });
      const seen: number[] = [];
      for (let n = 0; n < 50; n++) seen.push(((await stream.next()).value as { n: number }).n);
      assert.deepEqual(seen, Array.from({ length: 50 }, (_, n) => n));
      await stream.return?.();
    } finally {
      await pubsub.close();
    }
  });
});
