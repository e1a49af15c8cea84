/**
 * The live state rebuilt per bucket (subgraphs/drivers/live/rebuild.ts): when the master holding some
 * drivers' buckets loses them, those drivers (and only those) are put back from Postgres, and trip
 * events racing the rebuild still move them on. On the configured Redis (a cluster in CI's cluster
 * step); the whole-Redis loss is tests/e2e/redis-loss.test.ts, a restart mid-day tests/e2e/faults.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import { scanKeys } from '../../../platform/redis.ts';
import { LiveStateRebuild } from '../../../subgraphs/drivers/live/rebuild.ts';
import { ALL_BUCKETS } from '../../../subgraphs/drivers/live/keys.ts';
import { upsertDriverTrip } from '../../../subgraphs/drivers/records.ts';
import { MATCHED_FROM, TripReactions, type TripEvent } from '../../../subgraphs/drivers/trip-events.ts';
import { TripCompleted } from '../../../platform/events/contracts/index.ts';
import { unlinkKeys } from '../../support/redis-env.ts';
import { eventually, REDIS, startLiveStack, type LiveStack, type OnlineDriver } from './live-stack.ts';

const COOLDOWN_MS = 60_000;

describe('the drivers\' live state rebuilt per bucket', { skip: !REDIS && 'needs Redis (REDIS_URL or REDIS_CLUSTER_NODES): embedded state dies with its process' }, () => {
  let stack: LiveStack;

  before(async () => {
    // The stack's own rebuild checks only at start and on reconnects: these tests run theirs.
    stack = await startLiveStack({ sweepIntervalMs: 0, supplySnapshots: false, rebuildCheckIntervalMs: 0 });
  });
  after(() => stack?.stop());

  /** An online driver on a trip in Postgres (matched, not ended) and BUSY on it in Redis. */
  async function busyDriver(): Promise<OnlineDriver & { tripId: string; riderId: string }> {
    const driver = await stack.onlineDriver();
    const tripId = randomUUID();
    const riderId = randomUUID();
    await upsertDriverTrip(stack.drivers.db.fork(), { tripId, driverId: driver.driverId, driverUserId: driver.id, riderId, matchedAt: new Date() });
    const ref = (await stack.live.directory.byId(driver.driverId))!;
    assert.equal((await stack.live.store.transition(ref, 'BUSY', MATCHED_FROM, stack.live.now(), { tripId })).moved, true);
    return { ...driver, tripId, riderId };
  }

  const stateOf = async (driverId: string) => {
    const state = (await stack.live.store.read([driverId])).get(driverId)!;
    return [state.availability, state.tripId];
  };

  const newRebuild = () => new LiveStateRebuild({ redis: stack.drivers.runtime.redis!, db: stack.drivers.db, live: stack.live, cooldownMs: COOLDOWN_MS, checkIntervalMs: 0, logger: createLogger(stack.config('drivers')) });

  /** The master of the driver's bucket lost it: every key of the bucket is gone, its marker included. */
  async function loseBucketOf(driverId: string) {
    const redis = stack.drivers.runtime.redis!;
    const prefix = stack.live.keys.bucketPrefix(stack.live.keys.bucketOf(driverId));
    for await (const found of scanKeys(redis, `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`)) await unlinkKeys(redis, found);
    assert.deepEqual(await stateOf(driverId), ['OFFLINE', null]);
  }

  /** The TripCompleted drivers' consumer hands over, parsed by its contract. */
  const completion = (driver: OnlineDriver & { tripId: string; riderId: string }): TripEvent => ({
    id: randomUUID(),
    type: TripCompleted.type,
    source: 'trips',
    occurredAt: new Date().toISOString(),
    key: driver.tripId,
    data: TripCompleted.parse({ tripId: driver.tripId, riderId: driver.riderId, driverId: driver.driverId, driverUserId: driver.id, fareMinor: '5000', commissionMinor: '1000', currency: 'EGP', paymentMethod: 'CASH', completedAt: new Date().toISOString() }),
  }) as TripEvent;

  it('puts back the drivers of a lost bucket, and leaves every other bucket as it is', async () => {
    const redis = stack.drivers.runtime.redis!;
    const keys = stack.live.keys;
    const rebuild = newRebuild();
    await rebuild.check(); // every bucket marked (the stack's own check may have done it already)

    const lost = await busyDriver();
    let intact = await busyDriver();
    while (keys.bucketOf(intact.driverId) === keys.bucketOf(lost.driverId)) intact = await busyDriver();
    // Postgres still says `intact` is on its trip, but its live state moved on (the trip was cancelled
    // and the event is on its way): a rebuild of every bucket would wrongly make it BUSY again.
    const intactRef = (await stack.live.directory.byId(intact.driverId))!;
    await stack.live.store.transition(intactRef, 'AVAILABLE', ['BUSY'], stack.live.now(), { tripId: intact.tripId, requireTrip: true });

    await loseBucketOf(lost.driverId);

    await rebuild.check();
    assert.deepEqual(await stateOf(lost.driverId), ['BUSY', lost.tripId], 'rebuilt from driver_trips');
    assert.deepEqual(await stateOf(intact.driverId), ['AVAILABLE', null], 'another bucket is not rebuilt');
    assert.deepEqual(await Promise.all(ALL_BUCKETS.map((b) => redis.exists(keys.rebuilt(b)))), ALL_BUCKETS.map(() => 1), 'every bucket marked again');
    assert.equal(await rebuild.check(), false, 'nothing left to rebuild');
    await rebuild.stop();
  });
  it('lets a trip end applied on the lost state wait for the rebuild, then moves its driver on', async () => {
    const rebuild = newRebuild();
    const reactions = new TripReactions({ db: stack.drivers.db, live: stack.live, cooldownMs: COOLDOWN_MS, logger: createLogger(stack.config('drivers')), rebuild });
    const driver = await busyDriver();
    await loseBucketOf(driver.driverId);
    const apply = () => stack.drivers.db.fork().transactional((em) => reactions.handle(completion(driver), em));

    // The consumer reads the end before the rebuild ran: applied now, the move would be lost with the
    // state, and the rebuild would then make the driver BUSY on a trip that is over.
    await assert.rejects(apply(), /not rebuilt yet/);
    const [record] = await stack.drivers.db.orm.em.getConnection().execute(`select "ended_at" from "drivers"."driver_trips" where "trip_id" = ?`, [driver.tripId]);
    assert.equal(record.ended_at, null, 'the refused end rolled back: retried later');

    await rebuild.check();
    assert.deepEqual(await stateOf(driver.driverId), ['BUSY', driver.tripId]);
    await apply(); // the consumer's retry
    assert.equal((await stateOf(driver.driverId))[0], 'COOLDOWN');
    await reactions.stop();
    await rebuild.stop();
  });

  it('holds a trip end recorded while it reads, and leaves that driver off the trip', async () => {
    const rebuild = newRebuild();
    const driver = await busyDriver();
    await loseBucketOf(driver.driverId);
    const database = (await stack.drivers.db.orm.em.getConnection().execute(`select current_database() as "name"`))[0].name;
    const waitingOnTrips = async () =>
      (await stack.drivers.db.orm.em.getConnection().execute(`select 1 from pg_stat_activity where "datname" = ? and "wait_event_type" = 'Lock' and "query" ilike '%driver_trips%for share%'`, [database])).length > 0;

    let checked: Promise<boolean> | undefined;
    let seen: string | undefined;
    // The consumer records the trip's end and has not committed yet when the rebuild reads the trips
    // under way: the rebuild waits for the commit, or (were it not to) finishes on what it read.
    await stack.drivers.db.fork().transactional(async (em) => {
      await upsertDriverTrip(em, { tripId: driver.tripId, driverId: driver.driverId, driverUserId: driver.id, riderId: driver.riderId, endedAt: new Date(), outcome: 'COMPLETED' });
      checked = rebuild.check();
      seen = await Promise.race([checked.then(() => 'finished before the end committed'), eventually('the rebuild to wait on the trip', async () => (await waitingOnTrips()) && 'waiting')]);
    });
    await checked;
    assert.equal(seen, 'waiting');
    assert.equal((await stateOf(driver.driverId))[0], 'COOLDOWN', 'a driver whose trip just ended cools down, and is not BUSY on it');
    await rebuild.stop();
  });

  it('moves on every driver whose trip ends while the rebuild runs, whichever goes first', async () => {
    const rebuild = newRebuild();
    const reactions = new TripReactions({ db: stack.drivers.db, live: stack.live, cooldownMs: COOLDOWN_MS, logger: createLogger(stack.config('drivers')), rebuild });
    const drivers = await Promise.all(Array.from({ length: 12 }, () => busyDriver()));
    for (const driver of drivers) await loseBucketOf(driver.driverId);

    // As drivers' consumer would: each end applied at once, and again once refused, after the rebuild marked the driver's bucket.
    const applyUntilDone = async (driver: (typeof drivers)[number]) => {
      const event = completion(driver);
      for (;;) {
        const refused = await stack.drivers.db.fork().transactional((em) => reactions.handle(event, em)).then(() => false, (error: Error) => /not rebuilt yet/.test(error.message) || Promise.reject(error));
        if (!refused) return;
        await eventually('the rebuild to mark the bucket', async () => !(await rebuild.awaits(driver.driverId)));
      }
    };
    await Promise.all([rebuild.check(), ...drivers.map(applyUntilDone)]);
    assert.deepEqual(await Promise.all(drivers.map(async (driver) => (await stateOf(driver.driverId))[0])), drivers.map(() => 'COOLDOWN'));
    await reactions.stop();
    await rebuild.stop();
  });
});
