/**
 * The live state rebuilt per bucket (subgraphs/drivers/live/rebuild.ts): when the master holding some
 * drivers' buckets loses them, those drivers (and only those) are put back from Postgres. On the
 * configured Redis (a cluster in CI's cluster step); the whole-Redis loss is tests/e2e/redis-loss.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import { scanKeys } from '../../../platform/redis.ts';
import { LiveStateRebuild } from '../../../subgraphs/drivers/live/rebuild.ts';
import { ALL_BUCKETS } from '../../../subgraphs/drivers/live/keys.ts';
import { upsertDriverTrip } from '../../../subgraphs/drivers/records.ts';
import { MATCHED_FROM } from '../../../subgraphs/drivers/trip-events.ts';
import { unlinkKeys } from '../../support/redis-env.ts';
import { REDIS, startLiveStack, type LiveStack, type OnlineDriver } from './live-stack.ts';

describe('the drivers\' live state rebuilt per bucket', { skip: !REDIS && 'needs Redis (REDIS_URL or REDIS_CLUSTER_NODES): embedded state dies with its process' }, () => {
  let stack: LiveStack;

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0, supplySnapshots: false });
  });
  after(() => stack?.stop());

  /** An online driver on a trip in Postgres (matched, not ended) and BUSY on it in Redis. */
  async function busyDriver(): Promise<OnlineDriver & { tripId: string }> {
    const driver = await stack.onlineDriver();
    const tripId = randomUUID();
    await upsertDriverTrip(stack.drivers.db.fork(), { tripId, driverId: driver.driverId, driverUserId: driver.id, riderId: randomUUID(), matchedAt: new Date() });
    const ref = (await stack.live.directory.byId(driver.driverId))!;
    assert.equal((await stack.live.store.transition(ref, 'BUSY', MATCHED_FROM, stack.live.now(), { tripId })).moved, true);
    return { ...driver, tripId };
  }

  const stateOf = async (driverId: string) => {
    const state = (await stack.live.store.read([driverId])).get(driverId)!;
    return [state.availability, state.tripId];
  };

  it('puts back the drivers of a lost bucket, and leaves every other bucket as it is', async () => {
    const redis = stack.drivers.runtime.redis!;
    const keys = stack.live.keys;
    const rebuild = new LiveStateRebuild({ redis, db: stack.drivers.db, live: stack.live, cooldownMs: 60_000, logger: createLogger(stack.config('drivers')) });
    await rebuild.check(); // every bucket marked (the stack's own check may have done it already)

    const lost = await busyDriver();
    let intact = await busyDriver();
    while (keys.bucketOf(intact.driverId) === keys.bucketOf(lost.driverId)) intact = await busyDriver();
    // Postgres still says `intact` is on its trip, but its live state moved on (the trip was cancelled
    // and the event is on its way): a rebuild of every bucket would wrongly make it BUSY again.
    const intactRef = (await stack.live.directory.byId(intact.driverId))!;
    await stack.live.store.transition(intactRef, 'AVAILABLE', ['BUSY'], stack.live.now(), { tripId: intact.tripId, requireTrip: true });

    // The master of `lost`'s bucket lost it: every key of the bucket is gone, its marker included.
    const bucket = keys.bucketOf(lost.driverId);
    for await (const found of scanKeys(redis, `${keys.bucketPrefix(bucket).replace(/[*?[\]\\]/g, '\\$&')}*`)) await unlinkKeys(redis, found);
    assert.deepEqual(await stateOf(lost.driverId), ['OFFLINE', null]);

    await rebuild.check();
    assert.deepEqual(await stateOf(lost.driverId), ['BUSY', lost.tripId], 'rebuilt from driver_trips');
    assert.deepEqual(await stateOf(intact.driverId), ['AVAILABLE', null], 'another bucket is not rebuilt');
    assert.deepEqual(await Promise.all(ALL_BUCKETS.map((b) => redis.exists(keys.rebuilt(b)))), ALL_BUCKETS.map(() => 1), 'every bucket marked again');
    assert.equal(await rebuild.check(), false, 'nothing left to rebuild');
    await rebuild.stop();
  });
});
