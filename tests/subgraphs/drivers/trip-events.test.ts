import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { latLngToCell } from 'h3-js';
import { transitionDriver } from '../../../subgraphs/drivers/availability.ts';
import { offerCountsOf, supplyOf, takeSupplySnapshot } from '../../../subgraphs/drivers/index.ts';
import { SupplyPublisher } from '../../../subgraphs/drivers/supply.ts';
import { TripReactions, type TRIP_EVENT_CONTRACTS, type TripEvent } from '../../../subgraphs/drivers/trip-events.ts';
import { SupplySnapshot, TripCancelled, TripCompleted, TripMatched, TripStarted } from '../../../platform/events/contracts/index.ts';
import { createLogger } from '../../../platform/logger.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { eventually, isoAgo, offset, REDIS, startLiveStack, type LiveStack, type OnlineDriver, type TestPrincipal } from './live-stack.ts';

const CAIRO = { lat: 30.0444, lng: 31.2357 };
const COOLDOWN_MS = 1500;
const BATCH = `mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`;
const RESERVE = `mutation($trip: ID!, $ids: [ID!]!) { reserveDriversForOffer(tripId: $trip, driverIds: $ids) }`;
const FOLLOW = `subscription($id: ID!) { driverLocation(driverId: $id) { driverId location { lat lng } } }`;
const ROUTE = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Trip { id route { location { lat lng } recordedAt } } } }`;

describe("drivers' reactions to trip events", () => {
  let stack: LiveStack;

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0, supplySnapshots: false }, { env: { DRIVER_COOLDOWN_MS: String(COOLDOWN_MS) } });
  });
  after(() => stack.stop());

  const fix = (point: { lat: number; lng: number }, secondsAgo: number) => ({ ...point, accuracyM: 5, recordedAt: isoAgo(Date.now(), secondsAgo) });
  const driverAt = async (point: { lat: number; lng: number }): Promise<OnlineDriver> => {
    const driver = await stack.onlineDriver();
    dataOf(await stack.queryDrivers(BATCH, { b: [fix(point, 1)] }, driver.token));
    return driver;
  };
  const stateOf = async (driver: OnlineDriver) => {
    const state = (await stack.live.store.read([driver.driverId])).get(driver.driverId)!;
    return [state.availability, state.tripId] as const;
  };
  const reserve = async (tripId: string, drivers: OnlineDriver[]) => dataOf<any>(await stack.queryAsService(RESERVE, { trip: tripId, ids: drivers.map((d) => d.driverId) })).reserveDriversForOffer;
  const counters = async (driver: OnlineDriver) => {
    await offerCountsOf(stack.drivers.runtime).flush(); // offers received are counted in memory, written every few hundred ms
    const [row] = await stack.drivers.db.orm.em.getConnection().execute(`select * from "drivers"."driver_stats" where "driver_id" = ?`, [driver.driverId]);
    return row ? { received: row.offers_received, accepted: row.offers_accepted, completed: row.trips_completed, cancelledByDriver: row.trips_cancelled_by_driver } : null;
  };
  const tripRecord = async (tripId: string) => {
    const [row] = await stack.drivers.db.orm.em.getConnection().execute(`select * from "drivers"."driver_trips" where "trip_id" = ?`, [tripId]);
    return row ?? null;
  };

  const parties = (tripId: string, rider: TestPrincipal, driver: OnlineDriver) => ({ tripId, riderId: rider.id, driverId: driver.driverId, driverUserId: driver.id });
  const matched = (tripId: string, rider: TestPrincipal, driver: OnlineDriver) =>
    stack.publishTripEvent(TripMatched, { ...parties(tripId, rider, driver), vehicleType: 'ECONOMY', matchedAt: new Date().toISOString() });
  const started = (tripId: string, rider: TestPrincipal, driver: OnlineDriver, startedAt = new Date()) =>
    stack.publishTripEvent(TripStarted, { ...parties(tripId, rider, driver), startedAt: startedAt.toISOString() });
  const completed = (tripId: string, rider: TestPrincipal, driver: OnlineDriver, completedAt = new Date()) =>
    stack.publishTripEvent(TripCompleted, {
      ...parties(tripId, rider, driver),
      fareMinor: '5000',
      commissionMinor: '1000',
      currency: 'EGP',
      paymentMethod: 'CASH',
      completedAt: completedAt.toISOString(),
    });
  const cancelled = (tripId: string, rider: TestPrincipal, driver: OnlineDriver | null, cancelledBy: 'RIDER' | 'DRIVER' | 'SYSTEM') =>
    stack.publishTripEvent(TripCancelled, {
      tripId,
      riderId: rider.id,
      driverId: driver?.driverId ?? null,
      driverUserId: driver?.id ?? null,
      cancelledBy,
      reason: 'changed plans',
      feeMinor: '0',
      currency: 'EGP',
      cancelledAt: new Date().toISOString(),
    });
  /** Events are applied in stream order: once a later sentinel event shows, everything before it was applied. */
  const afterEarlierEvents = async () => {
    const sentinel = randomUUID();
    const rider = await stack.signUp('RIDER');
    const driver = await stack.driver();
    await started(sentinel, rider, driver);
    await eventually('the sentinel event', () => tripRecord(sentinel));
  };

  it('makes the winner BUSY, releases the others offered the trip, and leaves a driver offered another trip alone', async () => {
    const [winner, loser, other, elsewhere] = await Promise.all([0, 1, 2, 3].map((i) => driverAt(offset(CAIRO, i * 100, 0))));
    const rider = await stack.signUp('RIDER');
    const trip = randomUUID();
    const otherTrip = randomUUID();
    assert.equal((await reserve(trip, [winner, loser, other])).length, 3);
    assert.equal((await reserve(otherTrip, [elsewhere])).length, 1);
    await matched(trip, rider, winner);
    const expected = [['BUSY', trip], ['AVAILABLE', null], ['AVAILABLE', null], ['OFFERED', otherTrip]];
    const states = async () => JSON.stringify(await Promise.all([winner, loser, other, elsewhere].map(stateOf)));
    await eventually(`states ${JSON.stringify(expected)}`, async () => (await states()) === JSON.stringify(expected));
    await eventually('the match recorded', () => tripRecord(trip));
    assert.deepEqual(await counters(winner), { received: 1, accepted: 1, completed: 0, cancelledByDriver: 0 });
    assert.deepEqual(await counters(loser), { received: 1, accepted: 0, completed: 0, cancelledByDriver: 0 });
  });

  it('applies a run of TripMatched events read together as it applies each alone, with one statement per table', async () => {
    const winners = await Promise.all([0, 1, 2].map((i) => driverAt(offset(CAIRO, 900, i * 100))));
    const losers = await Promise.all([0, 1, 2].map((i) => driverAt(offset(CAIRO, 1_000, i * 100))));
    const rider = await stack.signUp('RIDER');
    const trips = winners.map(() => randomUUID());
    for (const [i, trip] of trips.entries()) assert.equal((await reserve(trip, [winners[i]!, losers[i]!])).length, 2);
    // As the consumer hands them over: parsed by their contract.
    const event = (contract: (typeof TRIP_EVENT_CONTRACTS)[number], i: number, data: Record<string, unknown>) =>
      ({ id: randomUUID(), type: contract.type, source: 'trips', occurredAt: new Date().toISOString(), key: trips[i]!, data: contract.parse({ ...parties(trips[i]!, rider, winners[i]!), ...data }) }) as TripEvent;
    const matchedAt = new Date().toISOString();
    // Two runs of matches around a start (of the first trip, matched just before it).
    const read = [event(TripMatched, 0, { vehicleType: 'ECONOMY', matchedAt }), event(TripMatched, 1, { vehicleType: 'ECONOMY', matchedAt }), event(TripStarted, 0, { startedAt: matchedAt }), event(TripMatched, 2, { vehicleType: 'ECONOMY', matchedAt })];

    const reactions = new TripReactions({ db: stack.drivers.db, live: stack.live, cooldownMs: COOLDOWN_MS, logger: createLogger(stack.config('drivers')) });
    const statements: string[] = [];
    const em = stack.drivers.db.fork();
    await em.transactional(async (tx) => {
      const connection = tx.getConnection();
      const execute = connection.execute.bind(connection);
      // The connection object is the ORM's, shared: count only this transaction's statements (the
      // stack's own consumer may apply an earlier test's late event meanwhile).
      const ours = tx.getTransactionContext();
      connection.execute = ((sql: string, ...rest: unknown[]) => (rest[2] === ours && statements.push(sql), execute(sql, ...(rest as [])))) as typeof connection.execute;
      try {
        await reactions.handleMany(read, tx);
      } finally {
        connection.execute = execute;
      }
    });
    await reactions.stop();

    assert.deepEqual(await Promise.all(winners.map(stateOf)), trips.map((trip) => ['BUSY', trip]));
    assert.deepEqual(await Promise.all(losers.map(stateOf)), losers.map(() => ['AVAILABLE', null]));
    for (const winner of winners) assert.deepEqual(await counters(winner), { received: 1, accepted: 1, completed: 0, cancelledByDriver: 0 });
    const records = await Promise.all(trips.map(tripRecord));
    const iso = (at: unknown) => (at === null ? null : new Date(at as string).toISOString());
    assert.deepEqual(records.map((row) => [row.driver_id, iso(row.matched_at), iso(row.started_at)]), [
      [winners[0]!.driverId, matchedAt, matchedAt], [winners[1]!.driverId, matchedAt, null], [winners[2]!.driverId, matchedAt, null],
    ]);
    const writes = statements.filter((sql) => /^\s*insert/i.test(sql)).map((sql) => (sql.includes('driver_stats') ? 'count' : 'trip'));
    assert.deepEqual(writes, ['trip', 'count', 'trip', 'trip', 'count'], 'the first run in one statement per table, then the start, then the last match alone');
  });

  it('makes a matched driver BUSY even if their offer was released meanwhile (trips decides who is matched)', async () => {
    const driver = await driverAt(offset(CAIRO, 0, 300));
    const rider = await stack.signUp('RIDER');
    await matched(randomUUID(), rider, driver);
    await eventually('the driver BUSY', async () => (await stateOf(driver))[0] === 'BUSY');
  });

  it('puts a driver whose trip completed in COOLDOWN, which ends by itself after DRIVER_COOLDOWN_MS', async () => {
    const driver = await driverAt(offset(CAIRO, 0, 600));
    const rider = await stack.signUp('RIDER');
    const trip = randomUUID();
    await reserve(trip, [driver]);
    await matched(trip, rider, driver);
    await eventually('BUSY', async () => (await stateOf(driver))[0] === 'BUSY');
    await started(trip, rider, driver);
    const completedAt = Date.now();
    await completed(trip, rider, driver);
    await eventually('COOLDOWN', async () => (await stateOf(driver))[0] === 'COOLDOWN');
    await eventually('AVAILABLE again', async () => (await stateOf(driver))[0] === 'AVAILABLE');
    assert.ok(Date.now() - completedAt >= COOLDOWN_MS, 'not before the cooldown ended');
    await eventually('the completion recorded', async () => (await tripRecord(trip))?.outcome === 'COMPLETED');
    assert.deepEqual(await counters(driver), { received: 1, accepted: 1, completed: 1, cancelledByDriver: 0 });
    const record = await tripRecord(trip);
    assert.equal(record.outcome, 'COMPLETED');
    assert.ok(record.started_at && record.ended_at);
  });

  it('lets the sweeper of any replica end a cooldown that is due', async () => {
    const driver = await driverAt(offset(CAIRO, 0, 900));
    const ref = (await stack.live.directory.byId(driver.driverId))!;
    const now = Date.now();
    await transitionDriver(stack.live.store, ref, 'OFFERED', now);
    await transitionDriver(stack.live.store, ref, 'BUSY', now);
    // Due well within the driver's 30 s presence, so the same sweep does not also take them offline as silent.
    await stack.live.store.transition(ref, 'COOLDOWN', ['BUSY'], now, { cooldownUntil: now + 10_000 });
    await stack.live.sweepOnce(now + 9_000);
    assert.equal((await stateOf(driver))[0], 'COOLDOWN');
    await stack.live.sweepOnce(now + 10_000);
    assert.equal((await stateOf(driver))[0], 'AVAILABLE');
  });

  it('does not let a late or repeated TripMatched reopen a trip that ended', async () => {
    const driver = await driverAt(offset(CAIRO, 0, 1200));
    const rider = await stack.signUp('RIDER');
    const trip = randomUUID();
    await matched(trip, rider, driver);
    await cancelled(trip, rider, driver, 'RIDER');
    await eventually('the trip ended', async () => (await tripRecord(trip))?.ended_at);
    await eventually('the driver AVAILABLE', async () => (await stateOf(driver))[0] === 'AVAILABLE');
    await matched(trip, rider, driver);
    await afterEarlierEvents();
    assert.deepEqual(await stateOf(driver), ['AVAILABLE', null]);
  });

  it('returns a driver whose trip was cancelled to AVAILABLE, and counts a cancellation by the driver', async () => {
    const driver = await driverAt(offset(CAIRO, 0, 1500));
    const rider = await stack.signUp('RIDER');
    const trip = randomUUID();
    await reserve(trip, [driver]);
    await matched(trip, rider, driver);
    await eventually('BUSY', async () => (await stateOf(driver))[0] === 'BUSY');
    await cancelled(trip, rider, driver, 'DRIVER');
    await eventually('AVAILABLE', async () => (await stateOf(driver))[0] === 'AVAILABLE');
    await eventually('the cancellation recorded', async () => (await tripRecord(trip))?.outcome === 'CANCELLED');
    assert.equal((await counters(driver))!.cancelledByDriver, 1);
  });

  it('releases the offers of a trip cancelled before anyone was matched', async () => {
    const drivers = await Promise.all([0, 1].map((i) => driverAt(offset(CAIRO, 0, 1800 + i * 100))));
    const rider = await stack.signUp('RIDER');
    const trip = randomUUID();
    await reserve(trip, drivers);
    await cancelled(trip, rider, null, 'SYSTEM');
    await eventually('both AVAILABLE', async () => (await Promise.all(drivers.map(stateOf))).every(([state]) => state === 'AVAILABLE'));
  });

  describe('driverLocation for the rider of an active trip', () => {
    const codesOf = (result: IteratorResult<any>) => (result.value?.errors ?? []).map((error: any) => error.extensions?.code);

    it('is FORBIDDEN before the match, allowed while the trip is active, ends with the trip, and is FORBIDDEN after', async () => {
      const point = offset(CAIRO, 2000, 0);
      const driver = await driverAt(point);
      const rider = await stack.signUp('RIDER');
      const stranger = await stack.signUp('RIDER');
      const follow = (who: TestPrincipal) => stack.wsClient({ token: who.token }).iterate({ query: FOLLOW, variables: { id: driver.driverId } });

      assert.deepEqual(codesOf(await follow(rider).next()), ['FORBIDDEN'], 'before the match');
      const trip = randomUUID();
      await reserve(trip, [driver]);
      await matched(trip, rider, driver);
      await eventually('the active trip', async () => (await tripRecord(trip))?.matched_at);

      const stream = follow(rider);
      assert.deepEqual((await stream.next()).value.data.driverLocation.location, point);
      const moved = offset(point, 50, 0);
      dataOf(await stack.queryDrivers(BATCH, { b: [fix(moved, 0)] }, driver.token));
      assert.deepEqual((await stream.next()).value.data.driverLocation.location, moved);
      assert.deepEqual(codesOf(await follow(stranger).next()), ['FORBIDDEN'], 'another rider');

      await started(trip, rider, driver);
      await completed(trip, rider, driver);
      assert.equal((await stream.next()).done, true, 'the stream ends with the trip');
      assert.deepEqual(codesOf(await follow(rider).next()), ['FORBIDDEN'], 'after the trip');
    });
  });

  describe('Trip.route', () => {
    it("is the driver's history between TripStarted and TripCompleted, oldest first, for the rider, the driver and admins", async () => {
      const origin = offset(CAIRO, -2000, 0);
      const driver = await driverAt(origin);
      const rider = await stack.signUp('RIDER');
      const trip = randomUUID();
      const notStarted = randomUUID();
      await matched(trip, rider, driver);
      // A minute of driving, 100 m every 10 s: before the start, on the trip, after the end.
      const path = [70, 60, 50, 40, 30, 20, 10].map((secondsAgo, i) => ({ ...fix(offset(origin, 100 * (i + 1), 0), secondsAgo) }));
      dataOf(await stack.queryDrivers(BATCH, { b: path }, driver.token));
      await started(trip, rider, driver, new Date(Date.parse(path[1].recordedAt) - 1));
      await completed(trip, rider, driver, new Date(Date.parse(path[4].recordedAt)));
      await matched(notStarted, rider, driver);
      await eventually('the route window', async () => (await tripRecord(trip))?.ended_at && (await tripRecord(notStarted)));
      await stack.live.history.flush();

      const routeFor = async (who: TestPrincipal) => dataOf<any>(await stack.queryDrivers(ROUTE, { reps: [{ __typename: 'Trip', id: trip }, { __typename: 'Trip', id: notStarted }] }, who.token))._entities;
      const expected = path.slice(1, 5).map((point) => ({ location: { lat: point.lat, lng: point.lng }, recordedAt: point.recordedAt }));
      for (const who of [rider, driver, await stack.admin()]) {
        assert.deepEqual(await routeFor(who), [{ id: trip, route: expected }, { id: notStarted, route: [] }]);
      }
      const stranger = await stack.signUp('RIDER');
      assertErrorCode(await stack.queryDrivers(ROUTE, { reps: [{ __typename: 'Trip', id: trip }] }, stranger.token), 'FORBIDDEN');
      assertErrorCode(await stack.queryDrivers(ROUTE, { reps: [{ __typename: 'Trip', id: trip }] }), 'UNAUTHENTICATED');
    });
  });

  describe('SupplySnapshot', () => {
    it('counts a city of drivers exactly although the store reads them in batches', async () => {
      // 1,234 drivers over most of the Redis store's buckets, read a bucket at a time (a bucket read in several
      // batches: tests/subgraphs/drivers/live-cluster.test.ts); every third one is OFFERED.
      const square = offset(CAIRO, -20_000, -20_000);
      const drivers = Array.from({ length: 1_234 }, (_, i) => ({ ref: { id: randomUUID(), userId: randomUUID(), vehicleType: 'ECONOMY' as const }, at: offset(square, (i % 37) * 130, Math.floor(i / 37) * 130) }));
      const now = Date.now();
      for (let i = 0; i < drivers.length; i += 100) {
        await Promise.all(
          drivers.slice(i, i + 100).map(async ({ ref, at }, j) => {
            await transitionDriver(stack.live.store, ref, 'AVAILABLE', now);
            await stack.live.store.ingest(ref, [{ ...at, heading: null, speedKmh: null, accuracyM: 5, recordedAt: now }], { rateLimited: false, now });
            if ((i + j) % 3 === 0) await transitionDriver(stack.live.store, ref, 'OFFERED', now);
          }),
        );
      }
      const expected: Record<string, number> = {};
      drivers.forEach(({ at }, i) => {
        if (i % 3 === 0) return;
        const cell = latLngToCell(at.lat, at.lng, 8);
        expected[cell] = (expected[cell] ?? 0) + 1;
      });

      const { cells } = await takeSupplySnapshot(stack.live);
      const inSquare = Object.fromEntries(Object.entries(cells).filter(([cell]) => cell in expected));
      assert.deepEqual(inSquare, expected);
      assert.equal(Object.values(inSquare).reduce((sum, count) => sum + count, 0), 822);
    });

    it('counts AVAILABLE drivers with a fresh fix per res-8 H3 cell, and one replica publishes it per interval', async () => {
      const alexandria = { lat: 31.2001, lng: 29.9187 };
      const elsewhere = offset(alexandria, 5000, 5000);
      const cell = latLngToCell(alexandria.lat, alexandria.lng, 8);
      const otherCell = latLngToCell(elsewhere.lat, elsewhere.lng, 8);
      await Promise.all([offset(alexandria, 10, 0), offset(alexandria, 0, 10), alexandria].map(driverAt));
      await Promise.all([elsewhere, offset(elsewhere, 5, 5)].map(driverAt));
      const busy = await driverAt(offset(alexandria, 5, 0));
      const ref = (await stack.live.directory.byId(busy.driverId))!;
      await transitionDriver(stack.live.store, ref, 'OFFERED', Date.now());
      const stale = await stack.onlineDriver();
      dataOf(await stack.queryDrivers(BATCH, { b: [fix(alexandria, 90)] }, stale.token));

      const snapshot = await takeSupplySnapshot(stack.live);
      assert.equal(snapshot.resolution, 8);
      assert.deepEqual([snapshot.cells[cell], snapshot.cells[otherCell]], [3, 2]);

      const received = await stack.listen('drivers', [SupplySnapshot]);
      const logger = createLogger(stack.config('drivers'));
      const replicas = [supplyOf(stack.drivers.runtime), ...Array.from({ length: 4 }, () => new SupplyPublisher({ live: stack.live, events: stack.drivers.runtime.events, redis: stack.drivers.redis, intervalMs: 30_000, logger }))];
      const published = (await Promise.all(replicas.map((replica) => replica.publishOnce()))).filter((result) => result !== null);
      assert.equal(published.length, REDIS ? 1 : replicas.length, REDIS ? 'one replica per interval' : 'embedded: one process, no lock');
      const [event] = await eventually('the snapshot on the stream', async () => (received.length > 0 ? received : null));
      assert.deepEqual([event.type, event.source, event.key], ['SupplySnapshot', 'drivers', 'supply']);
      assert.deepEqual([event.data.cells[cell], event.data.cells[otherCell]], [3, 2]);
    });
  });
});
