import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { after, before, describe, it } from 'node:test';
import { Trip, type TripStatus } from '../../../subgraphs/trips/entities.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { newKey, quoteSigner, REQUEST_TRIP, tripRow, type QuoteSigner } from './quotes.ts';

const TRIP = `query Trip($id: ID!) { trip(id: $id) { id status rider { id } driver { id } fare { amount currency } } }`;
const MY_TRIPS = `query MyTrips($first: Int, $after: String) {
  myTrips(first: $first, after: $after) { edges { cursor node { id requestedAt } } pageInfo { hasNextPage endCursor } }
}`;
const TRIP_ENTITY = `query Entities($reps: [_Any!]!) { _entities(representations: $reps) { ... on Trip { id status fare { amount } } } }`;
const USER_TRIPS_ENTITY = `query Entities($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { trips(first: 5) { edges { node { id } } } } } }`;

describe('trip queries', () => {
  let stack: Stack;
  let sign: QuoteSigner;
  let admin: TestUser;

  before(async () => {
    stack = await startStack({ subgraphs: ['trips'] });
    sign = quoteSigner(stack);
    admin = await stack.admin();
  });
  after(() => stack?.stop());

  async function bookTrip(rider: TestUser): Promise<string> {
    const result = await stack.query(REQUEST_TRIP, { input: { quoteId: sign(rider.id), paymentMethod: 'CASH' }, key: newKey() }, { token: rider.accessToken });
    return dataOf(result).requestTrip.id;
  }

  const assignDriver = (tripId: string, driver: TestUser) =>
    stack.subgraph('trips').db.fork().nativeUpdate(Trip, { id: tripId }, { driverId: randomUUID(), driverUserId: driver.id, status: 'DRIVER_ASSIGNED' });

  /** Writes finished trips straight to the table, `count` of them, requested at the given times. */
  async function insertTrips(owner: { riderId: string; driverUserId?: string }, times: Date[], status: TripStatus = 'COMPLETED'): Promise<Trip[]> {
    const em = stack.subgraph('trips').db.fork();
    const trips = times.map((at) =>
      em.create(Trip, tripRow({ riderId: owner.riderId, driverId: owner.driverUserId ? randomUUID() : null, driverUserId: owner.driverUserId ?? null, status, requestedAt: at, updatedAt: at })),
    );
    await em.flush();
    return trips;
  }

  /** The order myTrips must return: newest first, ties broken by id, descending. */
  const newestFirst = (trips: Trip[]) =>
    [...trips].sort((a, b) => b.requestedAt.getTime() - a.requestedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).map((t) => t.id);

  async function allPages(user: TestUser, first: number) {
    const pages: { ids: string[]; hasNextPage: boolean }[] = [];
    let cursor: string | null = null;
    do {
      const page: any = dataOf(await stack.query(MY_TRIPS, { first, after: cursor }, { token: user.accessToken })).myTrips;
      pages.push({ ids: page.edges.map((edge: any) => edge.node.id), hasNextPage: page.pageInfo.hasNextPage });
      cursor = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
      if (page.edges.length > 0) assert.equal(page.pageInfo.endCursor, page.edges.at(-1).cursor);
    } while (cursor);
    return pages;
  }

  describe('trip(id)', () => {
    it('shows a trip to its rider', async () => {
      const rider = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      const { trip } = dataOf(await stack.query(TRIP, { id }, { token: rider.accessToken }));
      assert.deepEqual(trip, { id, status: 'REQUESTED', rider: { id: rider.id }, driver: null, fare: { amount: '87.50', currency: 'EGP' } });
    });

    it("answers null for another rider's trip, exactly as for an unknown one", async () => {
      const rider = await stack.signUp('RIDER');
      const other = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      assert.deepEqual(dataOf(await stack.query(TRIP, { id }, { token: other.accessToken })), { trip: null });
      assert.deepEqual(dataOf(await stack.query(TRIP, { id: randomUUID() }, { token: other.accessToken })), { trip: null });
    });

    it('answers null for an id that is not a uuid, never a server error', async () => {
      const rider = await stack.signUp('RIDER');
      for (const id of ['not-a-uuid', "'; drop table trips; --", '']) {
        assert.deepEqual(dataOf(await stack.query(TRIP, { id }, { token: rider.accessToken })), { trip: null });
      }
    });

    it('shows a trip to its assigned driver but not to another driver', async () => {
      const rider = await stack.signUp('RIDER');
      const driver = await stack.signUp('DRIVER');
      const otherDriver = await stack.signUp('DRIVER');
      const id = await bookTrip(rider);
      assert.deepEqual(dataOf(await stack.query(TRIP, { id }, { token: driver.accessToken })), { trip: null });
      await assignDriver(id, driver);
      const { trip } = dataOf(await stack.query(TRIP, { id }, { token: driver.accessToken }));
      assert.equal(trip.status, 'DRIVER_ASSIGNED');
      assert.ok(trip.driver.id);
      assert.deepEqual(dataOf(await stack.query(TRIP, { id }, { token: otherDriver.accessToken })), { trip: null });
    });

    it('shows any trip to an admin', async () => {
      const rider = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      assert.equal(dataOf(await stack.query(TRIP, { id }, { token: admin.accessToken })).trip.id, id);
    });

    it('requires a signed-in caller', async () => {
      assertErrorCode(await stack.query(TRIP, { id: randomUUID() }), 'UNAUTHENTICATED');
    });
  });

  describe('Trip entity', () => {
    it('resolves many references in one statement', async () => {
      const rider = await stack.signUp('RIDER');
      const trips = await insertTrips({ riderId: rider.id }, Array.from({ length: 12 }, (_, i) => new Date(Date.UTC(2026, 0, 1, i))));
      const reps = [...trips.map((t) => ({ __typename: 'Trip', id: t.id })), { __typename: 'Trip', id: 'not-a-uuid' }];
      stack.resetStatementCount();
      const result = dataOf(await stack.querySubgraph('trips', TRIP_ENTITY, { reps }, { token: rider.accessToken }));
      assert.equal(stack.statementCount(), 1);
      assert.deepEqual(result._entities.slice(0, -1).map((t: any) => t.id), trips.map((t) => t.id));
      assert.equal(result._entities.at(-1), null);
    });

    it("denies a trip's fields to someone who is neither its rider, its driver nor an admin", async () => {
      const rider = await stack.signUp('RIDER');
      const stranger = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      const reps = [{ __typename: 'Trip', id }];
      assertErrorCode(await stack.querySubgraph('trips', TRIP_ENTITY, { reps }, { token: stranger.accessToken }), 'FORBIDDEN');
      assert.equal(dataOf(await stack.querySubgraph('trips', TRIP_ENTITY, { reps }, { token: admin.accessToken }))._entities[0].id, id);
    });
  });

  describe('myTrips', () => {
    it('pages through a rider’s trips newest first, without duplicates, with hasNextPage right at the boundaries', async () => {
      const rider = await stack.signUp('RIDER');
      const noon = Date.UTC(2026, 5, 1, 12);
      // Seven trips, three of them requested at the same instant: the id breaks the tie.
      const times = [0, 1, 1, 1, 2, 3, 4].map((hour) => new Date(noon - hour * 3_600_000));
      const expected = newestFirst(await insertTrips({ riderId: rider.id }, times));
      await insertTrips({ riderId: (await stack.signUp('RIDER')).id }, [new Date(noon)]); // someone else's

      const byThree = await allPages(rider, 3);
      assert.deepEqual(byThree.map((p) => p.ids.length), [3, 3, 1]);
      assert.deepEqual(byThree.map((p) => p.hasNextPage), [true, true, false]);
      assert.deepEqual(byThree.flatMap((p) => p.ids), expected);

      const bySeven = await allPages(rider, 7);
      assert.deepEqual(bySeven, [{ ids: expected, hasNextPage: false }]);
      const bySix = await allPages(rider, 6);
      assert.deepEqual(bySix.map((p) => p.hasNextPage), [true, false]);
      assert.deepEqual(bySix.flatMap((p) => p.ids), expected);
    });

    it('answers an empty page to a rider without trips', async () => {
      const rider = await stack.signUp('RIDER');
      const { myTrips } = dataOf(await stack.query(MY_TRIPS, {}, { token: rider.accessToken }));
      assert.deepEqual(myTrips, { edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    });

    it('shows a driver the trips assigned to them', async () => {
      const rider = await stack.signUp('RIDER');
      const driver = await stack.signUp('DRIVER');
      const assigned = await insertTrips({ riderId: rider.id, driverUserId: driver.id }, [new Date(Date.UTC(2026, 1, 1)), new Date(Date.UTC(2026, 1, 2))]);
      await insertTrips({ riderId: rider.id }, [new Date(Date.UTC(2026, 1, 3))]);
      const pages = await allPages(driver, 20);
      assert.deepEqual(pages.flatMap((p) => p.ids), newestFirst(assigned));
    });

    it('rejects first: 0 and first: 101', async () => {
      const rider = await stack.signUp('RIDER');
      for (const first of [0, -1, 101]) assertErrorCode(await stack.query(MY_TRIPS, { first }, { token: rider.accessToken }), 'BAD_USER_INPUT');
    });

    it('rejects a cursor it did not issue', async () => {
      const rider = await stack.signUp('RIDER');
      const forged = Buffer.from(`${new Date().toISOString()}|not-a-uuid`).toString('base64url');
      for (const after of ['garbage', forged]) assertErrorCode(await stack.query(MY_TRIPS, { first: 5, after }, { token: rider.accessToken }), 'BAD_USER_INPUT');
    });

    it('is for riders and drivers only', async () => {
      assertErrorCode(await stack.query(MY_TRIPS, {}, { token: admin.accessToken }), 'FORBIDDEN');
      assertErrorCode(await stack.query(MY_TRIPS, {}), 'UNAUTHENTICATED');
    });

    it('costs the same number of statements for 5 trips as for 50', async () => {
      const rider = await stack.signUp('RIDER');
      await insertTrips({ riderId: rider.id }, Array.from({ length: 60 }, (_, i) => new Date(Date.UTC(2025, 0, 1) + i * 60_000)));
      const query = `query($first: Int) { myTrips(first: $first) { edges { node { id status fare { amount } pickup { lat } rider { id } quote { id } } } } }`;
      const counts = [];
      for (const first of [5, 50]) {
        stack.resetStatementCount();
        const { myTrips } = dataOf(await stack.query(query, { first }, { token: rider.accessToken }));
        assert.equal(myTrips.edges.length, first);
        counts.push(stack.statementCount());
      }
      assert.equal(counts[0], counts[1]);
    });
  });

  describe('User.trips', () => {
    it('lists the trips of the user themself through the graph', async () => {
      const rider = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      const result = await stack.querySubgraph('trips', USER_TRIPS_ENTITY, { reps: [{ __typename: 'User', id: rider.id }] }, { token: rider.accessToken });
      assert.deepEqual(dataOf(result)._entities[0].trips.edges, [{ node: { id } }]);
    });

    it("denies another user's trips, but not to an admin", async () => {
      const rider = await stack.signUp('RIDER');
      const other = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      const reps = [{ __typename: 'User', id: rider.id }];
      assertErrorCode(await stack.querySubgraph('trips', USER_TRIPS_ENTITY, { reps }, { token: other.accessToken }), 'FORBIDDEN');
      assert.deepEqual(dataOf(await stack.querySubgraph('trips', USER_TRIPS_ENTITY, { reps }, { token: admin.accessToken }))._entities[0].trips.edges, [{ node: { id } }]);
    });
  });

  describe('constraints', () => {
    it('the database itself refuses a second active trip for a rider', async () => {
      const rider = await stack.signUp('RIDER');
      await insertTrips({ riderId: rider.id }, [new Date()], 'IN_PROGRESS');
      await assert.rejects(insertTrips({ riderId: rider.id }, [new Date()], 'REQUESTED'), UniqueConstraintViolationException);
      await insertTrips({ riderId: rider.id }, [new Date(), new Date()], 'CANCELLED');
    });

    it('the database itself refuses a quote used twice and an idempotency key reused by one rider', async () => {
      const rider = await stack.signUp('RIDER');
      const [trip] = await insertTrips({ riderId: rider.id }, [new Date()]);
      const em = stack.subgraph('trips').db.fork();
      const copy = (changes: Partial<Trip>) => em.insert(Trip, { ...trip, id: randomUUID(), status: 'COMPLETED', idempotencyKey: newKey(), quoteId: randomUUID(), ...changes });
      await assert.rejects(copy({ quoteId: trip.quoteId }), UniqueConstraintViolationException);
      await assert.rejects(copy({ idempotencyKey: trip.idempotencyKey }), UniqueConstraintViolationException);
      await copy({ idempotencyKey: trip.idempotencyKey, riderId: randomUUID() }); // keys are per rider
    });
  });
});
