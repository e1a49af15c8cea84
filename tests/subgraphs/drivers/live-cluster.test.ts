/**
 * The drivers' live store on a Redis Cluster: its keys spread over slots and masters (keyed by driver
 * bucket, trip and geo set, subgraphs/drivers/live/keys.ts), and every operation works across them:
 * going online, ingest, nearby, reserve and release, cooldowns, positions, the sweep. On the cluster
 * REDIS_CLUSTER_NODES names (CI's cluster step), or on three masters and three replicas of the test's own.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../../platform/config.ts';
import { closeRedis, createRedis, isCluster, type Cluster, type Redis } from '../../../platform/redis.ts';
import { transitionDriver, type DriverRef } from '../../../subgraphs/drivers/availability.ts';
import { DEFAULT_RULES, type Fix } from '../../../subgraphs/drivers/live/fixes.ts';
import { haversineM } from '../../../subgraphs/drivers/live/geo.ts';
import { driverKeys, type DriverKeys } from '../../../subgraphs/drivers/live/keys.ts';
import { RedisLiveStore } from '../../../subgraphs/drivers/live/redis-store.ts';
import { rankNearby } from '../../../subgraphs/drivers/live/store.ts';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../../support/redis-cluster.ts';
import { unlinkKeys } from '../../support/redis-env.ts';
import { offset } from './live-stack.ts';

const SHARED = process.env.REDIS_CLUSTER_NODES;
const skip = SHARED ? undefined : ownClusterUnavailable();
if (skip) console.log(`# skipped: the drivers' live store on a Redis Cluster ${skip}`);

const CAIRO = { lat: 30.0444, lng: 31.2357 };
const DRIVERS = 200;

describe('the drivers\' live store on a Redis Cluster', { skip }, () => {
  let cluster: OwnCluster | undefined;
  let redis: Redis;
  let keys: DriverKeys;
  let store: RedisLiveStore;
  const now = Date.now();
  /** Drivers around Cairo, within 2 km, one every few meters of angle: no two at one point. */
  const drivers = Array.from({ length: DRIVERS }, (_, i) => ({
    ref: { id: randomUUID(), userId: randomUUID(), vehicleType: i % 2 === 0 ? 'ECONOMY' : 'COMFORT' } as DriverRef,
    point: offset(CAIRO, Math.sin(i) * (20 + i * 9), Math.cos(i) * (20 + i * 9)),
  }));
  const fixOf = (point: { lat: number; lng: number }, at = now): Fix => ({ ...point, heading: null, speedKmh: null, accuracyM: 5, recordedAt: at });

  /** Every key of the namespace, by the master holding it (SCAN on each master). */
  async function keysByMaster(): Promise<Map<string, string[]>> {
    const byMaster = new Map<string, string[]>();
    for (const node of (redis as Cluster).nodes('master')) {
      const found: string[] = [];
      for (const pattern of keys.patterns) {
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
          cursor = next;
          found.push(...batch);
        } while (cursor !== '0');
      }
      byMaster.set(`${node.options.host}:${node.options.port}`, found);
    }
    return byMaster;
  }

  before(async () => {
    if (!SHARED) cluster = await startOwnCluster();
    redis = createRedis(loadConfig('drivers', { REDIS_CLUSTER_NODES: SHARED ?? cluster!.nodesEnv }).redis, pino({ level: 'silent' }), 'live-cluster-test')!;
    assert.equal(isCluster(redis), true);
    keys = driverKeys(`live-cluster-${randomUUID()}`);
    store = new RedisLiveStore(redis, keys, DEFAULT_RULES);
    await Promise.all(
      drivers.map(async ({ ref, point }) => {
        await transitionDriver(store, ref, 'AVAILABLE', now);
        assert.deepEqual(await store.ingest(ref, [fixOf(point)], { rateLimited: true, now }), { kind: 'JUDGED', spoofing: false, verdicts: ['LIVE'] });
      }),
    );
  });

  after(async () => {
    if (redis) {
      for (const found of (await keysByMaster().catch(() => new Map<string, string[]>())).values()) await unlinkKeys(redis, found);
      await closeRedis(redis);
    }
    await cluster?.stop();
  });

  it('spreads the drivers\' keys over many slots and more than one master, each driver\'s keys in one slot', async () => {
    const slotOf = (key: string) => (redis as unknown as { cluster(...args: string[]): Promise<number> }).cluster('KEYSLOT', key);
    const hashes = drivers.map(({ ref }) => keys.driver(ref.id));
    const slots = await Promise.all(hashes.map(slotOf));
    assert.ok(new Set(slots).size > 50, `${DRIVERS} drivers' hashes in ${new Set(slots).size} slots`);
    for (const { ref } of drivers.slice(0, 20)) {
      const own = await Promise.all([keys.driver(ref.id), keys.presence(ref.id), keys.rateLimit(ref.id), keys.seen(keys.bucketOf(ref.id)), keys.cooldowns(keys.bucketOf(ref.id))].map(slotOf));
      assert.equal(new Set(own).size, 1, 'a driver\'s script touches one slot');
    }
    const byMaster = await keysByMaster();
    const holding = [...byMaster.values()].map((found) => found.filter((key) => hashes.includes(key)).length);
    assert.equal(holding.reduce((sum, count) => sum + count, 0), DRIVERS, 'every driver\'s hash found once');
    assert.ok(holding.filter((count) => count > 0).length >= 2, `drivers' hashes on several masters: ${holding.join(', ')}`);
    const geoSlots = await Promise.all(['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'].map((type) => slotOf(keys.geo(type))));
    assert.equal(new Set(geoSlots).size, 4, 'each vehicle type\'s geo set in a slot of its own');
    const geo = [...byMaster.values()].map((found) => found.filter((key) => key === keys.geo('ECONOMY') || key === keys.geo('COMFORT')).length);
    assert.equal(geo.reduce((sum, count) => sum + count, 0), 2, 'both geo sets written, each on one master');
  });

  it('finds the nearest available drivers as brute force does, and leaves out one gone offline', async () => {
    const gone = drivers[3]!;
    await transitionDriver(store, gone.ref, 'OFFLINE', now);
    for (const [first, radiusM, type] of [[5, 300, 'ECONOMY'], [20, 1_000, null], [50, 5_000, 'COMFORT']] as const) {
      const query = { near: CAIRO, radiusM, first, vehicleType: type };
      const expected = drivers
        .filter((d) => d !== gone && (type === null || d.ref.vehicleType === type))
        .map((d) => ({ id: d.ref.id, distanceM: haversineM(CAIRO, d.point) }))
        .filter((hit) => hit.distanceM <= radiusM)
        .sort((a, b) => a.distanceM - b.distanceM)
        .slice(0, first)
        .map((hit) => hit.id);
      assert.ok(expected.length > 0);
      assert.deepEqual(rankNearby(query, await store.nearby(query, now - 60_000)).map((hit) => hit.driverId), expected, JSON.stringify(query));
    }
    await transitionDriver(store, gone.ref, 'AVAILABLE', now);
    await store.ingest(gone.ref, [fixOf(gone.point, now + 1)], { rateLimited: false, now: now + 1 });
  });

  it('reserves across buckets down the ranking, at most atMost, and releases the trip\'s drivers', async () => {
    const ranking = drivers.slice(10, 20).map((d) => d.ref.id);
    const rival = randomUUID();
    assert.deepEqual(await store.reserve(rival, [ranking[0]!, ranking[2]!], now), [ranking[0], ranking[2]]);
    const trip = randomUUID();
    assert.deepEqual(await store.reserve(trip, ranking, now, 4), [ranking[1], ranking[3], ranking[4], ranking[5]]);
    const states = await store.read(ranking);
    assert.deepEqual(ranking.map((id) => states.get(id)!.tripId), [rival, trip, rival, trip, trip, trip, null, null, null, null]);
    assert.deepEqual(await store.release(trip, [ranking[1]!, ranking[0]!], now), [ranking[1]], 'another trip\'s driver stays');
    assert.deepEqual((await store.releaseTrip(trip, ranking[3]!, now)).sort(), [ranking[4], ranking[5]].sort());
    assert.deepEqual((await store.releaseTrip(rival, null, now)).sort(), [ranking[0], ranking[2]].sort());
    const after = await store.read(ranking);
    assert.deepEqual(ranking.map((id) => after.get(id)!.availability), ranking.map((_, i) => (i === 3 ? 'OFFERED' : 'AVAILABLE')));
    assert.deepEqual(await store.release(trip, [ranking[3]!], now), [ranking[3]]);
  });

  it('gives each driver to one trip only when thirty trips race for the same drivers, at most atMost each', async () => {
    const contested = drivers.slice(20, 50).map((d) => d.ref.id);
    const trips = Array.from({ length: 30 }, () => randomUUID());
    const results = await Promise.all(trips.map((trip) => store.reserve(trip, [...contested].sort(() => Math.random() - 0.5), now, 3)));
    for (const reserved of results) assert.ok(reserved.length <= 3, `at most 3 per trip, got ${reserved.length}`);
    const all = results.flat();
    assert.equal(new Set(all).size, all.length, 'no driver reserved for two trips');
    assert.deepEqual([...all].sort(), [...contested].sort(), 'trips short of 3 went down their whole ranking, so every driver went to one');
    const states = await store.read(contested);
    results.forEach((reserved, i) => reserved.forEach((id) => assert.equal(states.get(id)!.tripId, trips[i])));
    await Promise.all(trips.map((trip) => store.releaseTrip(trip, null, now)));
  });

  it('ends due cooldowns and counts available positions over every bucket, whole or a driver at a time', async () => {
    // One driver per script call: every bucket holding drivers is walked in several calls.
    const small = new RedisLiveStore(redis, keys, DEFAULT_RULES, { bucketBatch: 1 });
    const resting = drivers.slice(50, 60);
    for (const { ref } of resting) {
      await store.transition(ref, 'BUSY', ['AVAILABLE'], now, { tripId: randomUUID() });
      await store.transition(ref, 'COOLDOWN', ['BUSY'], now, { cooldownUntil: now + 1_000 });
    }
    const expected = drivers.filter((d) => !resting.includes(d)).map((d) => `${d.point.lat},${d.point.lng}`).sort();
    for (const walker of [store, small]) assert.deepEqual((await walker.availablePositions(now - 60_000)).map((p) => `${p.lat},${p.lng}`).sort(), expected);
    assert.deepEqual(await small.endCooldowns(now + 500), [], 'none due yet');
    assert.deepEqual((await small.endCooldowns(now + 1_000)).sort(), resting.map((d) => d.ref.id).sort());
    assert.equal((await store.availablePositions(now - 60_000)).length, DRIVERS);
  });

  it('sweeps silent drivers offline and off the map, keeping a BUSY one BUSY', async () => {
    const busy = drivers[60]!;
    await store.transition(busy.ref, 'BUSY', ['AVAILABLE'], now, { tripId: randomUUID() });
    const silentSince = now + DEFAULT_RULES.presenceTtlMs + 1;
    const swept = await new RedisLiveStore(redis, keys, DEFAULT_RULES, { bucketBatch: 1 }).sweep(silentSince, ['AVAILABLE', 'OFFERED']);
    assert.equal(new Set(swept).size, DRIVERS - 1);
    assert.equal(swept.length, DRIVERS - 1, 'each once');
    assert.ok(!swept.includes(busy.ref.id));
    assert.equal((await store.availability([busy.ref.id])).get(busy.ref.id), 'BUSY');
    assert.deepEqual(await store.nearby({ near: CAIRO, radiusM: 5_000, first: 50, vehicleType: null }, 0), []);
    assert.equal(await redis.zcard(keys.geo('ECONOMY')) + await redis.zcard(keys.geo('COMFORT')), 0, 'the geo sets are empty');
  });
});
