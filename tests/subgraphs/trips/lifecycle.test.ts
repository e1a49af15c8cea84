import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { TripCancelled, TripCompleted, TripDriverArrived, TripMatched, TripRequested, TripStarted } from '../../../platform/events/contracts/index.ts';
import { assertErrorCode, dataOf, type GraphQLResult } from '../../support/client.ts';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import { followOffers, TripNotifier } from '../../../subgraphs/trips/live.ts';
import { nextEvent, offset } from '../../support/rides.ts';
import type { Stack } from '../../support/stack.ts';
import { ACCEPT, ARRIVE, CANCEL, COMPLETE, DECLINE, Rides, ridesStack, START, TRIP } from './rides.ts';

const TRIP_OFFERS = `subscription { tripOffers { round expiresAt pickupDistanceM trip { id status pickup { lat lng } fare { amount currency } rider { id } } } }`;
const TRIP_UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { id status version: updatedAt driver { id } } }`;
const OFFER_EVENTS = `subscription { tripOffers { status round expiresAt trip { id status } } }`;
const OFFER_EVENTS_WITH_DRIVER = `subscription { tripOffers { status round expiresAt trip { id status driver { id } } } }`;

/** Every payload trips wrote is exactly what its contract says, field by field (check refuses any field it does not name). */
const CONTRACTS = { TripRequested, TripMatched, TripDriverArrived, TripStarted, TripCompleted, TripCancelled };
const assertKeepsItsContract = (event: { type: string; data: unknown }) =>
  assert.deepEqual(CONTRACTS[event.type as keyof typeof CONTRACTS].check(event.data), event.data, `${event.type} as its contract reads it`);

describe('trip lifecycle', () => {
  let stack: Stack;
  let rides: Rides;
  ridesStack((started) => ({ stack, rides } = started));

  it('takes a ride from request to completion, with offers and updates over subscriptions through the router', async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 500));
    const rider = await stack.signUp('RIDER');
    const offers = rides.subscribe(driver, TRIP_OFFERS);

    const requested = await rides.request(rider, pickup);
    assert.equal(requested.status, 'REQUESTED');
    const offer = (await nextEvent(offers, 10_000, 'the offer')).data!.tripOffers;
    assert.equal(offer.trip.id, requested.id);
    assert.deepEqual(offer.trip.rider, { id: rider.id });
    assert.deepEqual(offer.trip.fare, { amount: '87.50', currency: 'EGP' });
    assert.equal(offer.round, 1);
    assert.ok(Math.abs(offer.pickupDistanceM - 500) <= 5, `pickup distance ${offer.pickupDistanceM}`);
    assert.ok(Date.parse(offer.expiresAt) > Date.now(), 'the offer is still open');

    const updates = rides.subscribe(rider, TRIP_UPDATES, { id: requested.id });
    const first = (await nextEvent(updates, 10_000, 'the current trip')).data!.tripUpdates;
    assert.equal(first.status, 'MATCHING');

    const accepted = dataOf<any>(await rides.as(driver, ACCEPT, { id: requested.id })).acceptTripOffer;
    assert.equal(accepted.status, 'DRIVER_ASSIGNED');
    assert.deepEqual(accepted.driver, { id: driver.driverId });
    assert.ok(accepted.assignedAt);
    assert.deepEqual((await nextEvent(updates)).data!.tripUpdates.driver, { id: driver.driverId });

    for (const [mutation, field, status] of [[ARRIVE, 'markArrived', 'DRIVER_ARRIVED'], [START, 'startTrip', 'IN_PROGRESS'], [COMPLETE, 'completeTrip', 'COMPLETED']] as const) {
      const trip = dataOf<any>(await rides.as(driver, mutation, { id: requested.id }))[field];
      assert.equal(trip.status, status);
      assert.equal((await nextEvent(updates, 10_000, status)).data!.tripUpdates.status, status);
    }
    assert.equal((await updates.next()).done, true, 'the stream ends with the trip');

    const done = dataOf<any>(await rides.as(rider, TRIP, { id: requested.id })).trip;
    assert.deepEqual(done.fare, { amount: '87.50', currency: 'EGP' }, 'the final fare is the quoted fare');
    assert.ok(done.assignedAt <= done.arrivedAt && done.arrivedAt <= done.startedAt && done.startedAt <= done.completedAt);
    assert.equal(done.cancellation, null);
    await offers.return!();
  });

  it('records each transition with its event, in the same transaction, with payloads that keep their contracts', async () => {
    const { rider, driver, tripId, pickup } = await rides.assignedTrip();
    for (const mutation of [ARRIVE, START, COMPLETE]) dataOf(await rides.as(driver, mutation, { id: tripId }));
    const events = await rides.events(tripId);
    assert.deepEqual(events.map((event) => event.type), ['TripRequested', 'TripMatched', 'TripDriverArrived', 'TripStarted', 'TripCompleted']);
    assert.ok(events.every((event) => event.key === tripId));
    // TripMatched is built by the accept statement in SQL: this is where its contract checks it.
    for (const event of events) assertKeepsItsContract(event);
    const [requested, matched, arrived, started, completed] = events.map((event) => event.data);
    const trip = dataOf<any>(await rides.as(rider, TRIP, { id: tripId })).trip;
    assert.match(requested.quoteId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(requested, {
      tripId, riderId: rider.id, quoteId: requested.quoteId, quoteToken: (await stack.subgraph('trips').db.fork().findOneOrFail(Trip, tripId)).quoteToken,
      vehicleType: 'COMFORT', pickup, dropoff: offset(pickup, 3_000), fareMinor: '8750', currency: 'EGP', paymentMethod: 'CASH', requestedAt: requested.requestedAt,
    });
    assert.ok(!Number.isNaN(Date.parse(requested.requestedAt)));
    assert.deepEqual(matched, { tripId, riderId: rider.id, driverId: driver.driverId, driverUserId: driver.id, vehicleType: 'COMFORT', matchedAt: trip.assignedAt });
    assert.deepEqual(arrived, { tripId, riderId: rider.id, driverId: driver.driverId, driverUserId: driver.id, arrivedAt: trip.arrivedAt });
    assert.deepEqual(started, { tripId, riderId: rider.id, driverId: driver.driverId, driverUserId: driver.id, startedAt: trip.startedAt });
    // 15 % of 87.50 is 13.125: half-up to the piastre, 13.13.
    assert.deepEqual(completed, {
      tripId, riderId: rider.id, driverId: driver.driverId, driverUserId: driver.id,
      fareMinor: '8750', commissionMinor: '1313', currency: 'EGP', paymentMethod: 'CASH', completedAt: trip.completedAt,
    });
  });

  describe('refusals change nothing', () => {
    /** Runs `attempt`, checks its code, and that the trip and its events are exactly as before. */
    async function refused(tripId: string, code: string, attempt: () => Promise<GraphQLResult>) {
      const [statusBefore, eventsBefore] = [await rides.status(tripId), (await rides.events(tripId)).length];
      const result = await attempt();
      assertErrorCode(result, code);
      assert.equal(await rides.status(tripId), statusBefore);
      assert.equal((await rides.events(tripId)).length, eventsBefore);
      return result.body.errors![0].extensions!;
    }

    it('refuses steps out of order with CONFLICT naming the current status', async () => {
      const { rider, driver, tripId } = await rides.assignedTrip();
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(driver, START, { id: tripId }))).status, 'DRIVER_ASSIGNED');
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(driver, COMPLETE, { id: tripId }))).status, 'DRIVER_ASSIGNED');
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(driver, ACCEPT, { id: tripId }))).offerStatus, 'ACCEPTED');
      dataOf(await rides.as(driver, ARRIVE, { id: tripId }));
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(driver, ARRIVE, { id: tripId }))).status, 'DRIVER_ARRIVED');
      dataOf(await rides.as(driver, START, { id: tripId }));
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(rider, CANCEL, { id: tripId, reason: 'changed my mind' }))).status, 'IN_PROGRESS');
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(driver, CANCEL, { id: tripId, reason: 'too far' }))).status, 'IN_PROGRESS');
      dataOf(await rides.as(driver, COMPLETE, { id: tripId }));
      assert.equal((await refused(tripId, 'CONFLICT', () => rides.as(driver, COMPLETE, { id: tripId }))).status, 'COMPLETED');
    });

    it('refuses the wrong party with FORBIDDEN', async () => {
      const { rider, tripId, pickup } = await rides.assignedTrip();
      const otherDriver = await rides.onlineDriverAt(offset(pickup, 20_000));
      const otherRider = await stack.signUp('RIDER');
      await refused(tripId, 'FORBIDDEN', () => rides.as(otherDriver, ARRIVE, { id: tripId }));
      await refused(tripId, 'FORBIDDEN', () => rides.as(otherDriver, ACCEPT, { id: tripId }));
      await refused(tripId, 'FORBIDDEN', () => rides.as(otherDriver, DECLINE, { id: tripId }));
      await refused(tripId, 'FORBIDDEN', () => rides.as(otherDriver, CANCEL, { id: tripId, reason: 'not mine' }));
      await refused(tripId, 'FORBIDDEN', () => rides.as(otherRider, CANCEL, { id: tripId, reason: 'not mine' }));
      await refused(tripId, 'FORBIDDEN', () => rides.as(rider, ARRIVE, { id: tripId }));
      await refused(tripId, 'FORBIDDEN', () => rides.as(rider, ACCEPT, { id: tripId }));
    });

    it('answers NOT_FOUND for an unknown trip and BAD_USER_INPUT for bad input', async () => {
      const { rider, driver, tripId } = await rides.assignedTrip();
      const unknown = randomUUID();
      for (const mutation of [ACCEPT, DECLINE, ARRIVE, START, COMPLETE]) assertErrorCode(await rides.as(driver, mutation, { id: unknown }), 'NOT_FOUND');
      assertErrorCode(await rides.as(rider, CANCEL, { id: unknown, reason: 'gone' }), 'NOT_FOUND');
      const malformed = await rides.as(driver, ARRIVE, { id: 'not-a-trip' });
      assertErrorCode(malformed, 'BAD_USER_INPUT');
      assert.ok(malformed.body.errors![0].extensions!.fields.tripId);
      const blank = await refused(tripId, 'BAD_USER_INPUT', () => rides.as(rider, CANCEL, { id: tripId, reason: '   ' }));
      assert.ok(blank.fields.reason);
      await refused(tripId, 'BAD_USER_INPUT', () => rides.as(rider, CANCEL, { id: tripId, reason: 'x'.repeat(201) }));
    });

    it('lets only the rider, the assigned driver and admins follow a trip', async () => {
      const { rider, driver, tripId } = await rides.assignedTrip();
      for (const user of [rider, driver, await rides.admin()]) {
        const events = rides.subscribe(user, TRIP_UPDATES, { id: tripId });
        assert.equal((await nextEvent(events)).data!.tripUpdates.status, 'DRIVER_ASSIGNED');
        await events.return!();
      }
      const stranger = await stack.signUp('RIDER');
      await assert.rejects(nextEvent(rides.subscribe(stranger, TRIP_UPDATES, { id: tripId })), (errors: any) => {
        assert.equal(errors[0]?.extensions?.code, 'FORBIDDEN');
        return true;
      });
    });
  });

  describe("offers that end leave the driver's stream", () => {
    it('tells the drivers who lost the trip that it was TAKEN, once, and tells the winner nothing', async () => {
      const pickup = rides.freshArea();
      const [winner, loser] = await Promise.all([300, 600].map((m) => rides.onlineDriverAt(offset(pickup, m))));
      const [winnerOffers, loserOffers] = [rides.subscribe(winner, OFFER_EVENTS), rides.subscribe(loser, OFFER_EVENTS_WITH_DRIVER)];
      const { id: tripId } = await rides.request(await stack.signUp('RIDER'), pickup);
      const made = (await nextEvent(loserOffers, 10_000, "the loser's offer")).data!.tripOffers;
      assert.deepEqual({ status: made.status, trip: made.trip.id }, { status: 'PENDING', trip: tripId });
      assert.equal((await nextEvent(winnerOffers, 10_000, "the winner's offer")).data!.tripOffers.status, 'PENDING');

      dataOf(await rides.as(winner, ACCEPT, { id: tripId }));
      const ended = (await nextEvent(loserOffers, 10_000, 'the end of the offer')).data!.tripOffers;
      // The loser learns the trip was taken, not by whom.
      assert.deepEqual(ended, { status: 'TAKEN', round: made.round, expiresAt: made.expiresAt, trip: { id: tripId, status: 'DRIVER_ASSIGNED', driver: null } });
      assertErrorCode(await rides.as(loser, ACCEPT, { id: tripId }), 'CONFLICT');

      // The winner gives the trip back (both are free again) and a second trip is offered to both:
      // it is the next event on each stream, so nothing else came about the first one in between.
      dataOf(await rides.as(winner, CANCEL, { id: tripId, reason: 'flat tyre' }));
      for (const driver of [winner, loser]) await rides.waitForAvailability(driver, 'AVAILABLE');
      const { id: secondTrip } = await rides.request(await stack.signUp('RIDER'), pickup);
      for (const offers of [winnerOffers, loserOffers]) {
        const next = (await nextEvent(offers, 10_000, 'the second offer')).data!.tripOffers;
        assert.deepEqual({ status: next.status, trip: next.trip.id }, { status: 'PENDING', trip: secondTrip });
      }
    });

    it('tells the offered drivers when the rider cancels before anyone accepted', async () => {
      const pickup = rides.freshArea();
      const drivers = await Promise.all([200, 700].map((m) => rides.onlineDriverAt(offset(pickup, m))));
      const streams = drivers.map((driver) => rides.subscribe(driver, OFFER_EVENTS));
      const rider = await stack.signUp('RIDER');
      const { id: tripId } = await rides.request(rider, pickup);
      for (const offers of streams) assert.equal((await nextEvent(offers, 10_000, 'the offer')).data!.tripOffers.status, 'PENDING');

      dataOf(await rides.as(rider, CANCEL, { id: tripId, reason: 'found a friend to drive me' }));
      for (const offers of streams) {
        const ended = (await nextEvent(offers, 10_000, 'the end of the offer')).data!.tripOffers;
        assert.deepEqual({ status: ended.status, trip: ended.trip }, { status: 'CANCELLED', trip: { id: tripId, status: 'CANCELLED' } });
      }
    });

    it("confirms a decline on the decliner's streams (every device of theirs)", async () => {
      const pickup = rides.freshArea();
      const driver = await rides.onlineDriverAt(offset(pickup, 400));
      const [phone, tablet] = [rides.subscribe(driver, OFFER_EVENTS), rides.subscribe(driver, OFFER_EVENTS)];
      const { id: tripId } = await rides.request(await stack.signUp('RIDER'), pickup);
      for (const offers of [phone, tablet]) assert.equal((await nextEvent(offers, 10_000, 'the offer')).data!.tripOffers.trip.id, tripId);
      assert.equal(dataOf<any>(await rides.as(driver, DECLINE, { id: tripId })).declineTripOffer, true);
      for (const offers of [phone, tablet]) {
        const ended = (await nextEvent(offers, 10_000, 'the decline')).data!.tripOffers;
        assert.deepEqual({ status: ended.status, trip: ended.trip.id }, { status: 'DECLINED', trip: tripId });
      }
    });

    it('never sends an offer as new after its end, even when the end is published first (by another replica)', async () => {
      const { runtime, db } = stack.subgraph('trips');
      const { tripId } = await rides.assignedTrip();
      const [trip] = await rides.sql<Record<string, unknown>>(`select * from "trips"."trips" where "id" = ?`, [tripId]);
      const driverUserId = randomUUID();
      const offers = await followOffers(runtime.pubsub, db.fork(), driverUserId, () => new Date());
      const notifier = new TripNotifier(runtime.pubsub, runtime.logger);
      const offer = (id: string) => ({ id, driverUserId, round: 1, expiresAt: new Date(Date.now() + 60_000), pickupDistanceM: 300 });
      const ended = (id: string) => ({ id, driver_id: randomUUID(), driver_user_id: driverUserId, round: 1, expires_at: new Date(), pickup_distance_m: 300 });
      const [late, next] = [randomUUID(), randomUUID()];

      await notifier.offersEnded(trip!, [ended(late)], 'TAKEN');
      await notifier.offered(trip!, [offer(late)]);
      await notifier.offersEnded(trip!, [ended(late)], 'TAKEN');
      await notifier.offered(trip!, [offer(next)]);
      await notifier.offered(trip!, [offer(next)]);
      const events = [];
      for (let i = 0; i < 2; i++) events.push((await nextEvent(offers)).tripOffers);
      assert.deepEqual(events.map((event) => [event.status, event.trip.id]), [['TAKEN', tripId], ['PENDING', tripId]]);
      await notifier.offersEnded(trip!, [ended(next)], 'EXPIRED');
      assert.equal((await nextEvent(offers)).tripOffers.status, 'EXPIRED', 'the repeats of both were skipped');
      await offers.return!();
    });

    it('replays only the offers still open to a driver who subscribes later', async () => {
      const pickup = rides.freshArea();
      const [taker, other] = await Promise.all([300, 500].map((m) => rides.onlineDriverAt(offset(pickup, m))));
      const { id: tripId } = await rides.request(await stack.signUp('RIDER'), pickup);
      await rides.pendingOffers(tripId, 2);
      dataOf(await rides.as(taker, ACCEPT, { id: tripId }));
      await rides.waitForAvailability(other, 'AVAILABLE');
      // Subscribing now: the ended offer is neither replayed as open nor as ended; the next event is a new offer.
      const offers = rides.subscribe(other, OFFER_EVENTS);
      const { id: nextTrip } = await rides.request(await stack.signUp('RIDER'), offset(pickup, 100));
      const next = (await nextEvent(offers, 10_000, 'the next offer')).data!.tripOffers;
      assert.deepEqual({ status: next.status, trip: next.trip.id }, { status: 'PENDING', trip: nextTrip });
    });
  });

  describe('cancellation', () => {
    it('costs the rider nothing before a driver is assigned, and frees the offered drivers', async () => {
      const pickup = rides.freshArea();
      const driver = await rides.onlineDriverAt(offset(pickup, 300));
      const rider = await stack.signUp('RIDER');
      const { id: tripId } = await rides.request(rider, pickup);
      await rides.pendingOffers(tripId);
      assert.equal(await rides.availability(driver), 'OFFERED');
      const cancelled = dataOf<any>(await rides.as(rider, CANCEL, { id: tripId, reason: 'found a friend to drive me' })).cancelTrip;
      assert.equal(cancelled.status, 'CANCELLED');
      assert.deepEqual(cancelled.cancellation, { by: 'RIDER', reason: 'found a friend to drive me', fee: { amount: '0.00', currency: 'EGP' } });
      assert.deepEqual((await rides.offers(tripId)).map((offer) => offer.status), ['WITHDRAWN']);
      await rides.waitForAvailability(driver, 'AVAILABLE');
      assertErrorCode(await rides.as(driver, ACCEPT, { id: tripId }), 'CONFLICT');
    });

    it('costs the rider nothing within the grace period after assignment', async () => {
      const { rider, driver, tripId } = await rides.assignedTrip();
      const cancelled = dataOf<any>(await rides.as(rider, CANCEL, { id: tripId, reason: 'plans changed' })).cancelTrip;
      assert.deepEqual(cancelled.cancellation.fee, { amount: '0.00', currency: 'EGP' });
      const event = (await rides.events(tripId)).at(-1)!;
      assertKeepsItsContract(event);
      assert.deepEqual(event.data, {
        tripId, riderId: rider.id, driverId: driver.driverId, driverUserId: driver.id,
        cancelledBy: 'RIDER', reason: 'plans changed', feeMinor: '0', currency: 'EGP', cancelledAt: cancelled.cancelledAt,
      });
    });

    it("charges the quote's fee when the rider cancels more than two minutes after assignment", async () => {
      const { rider, driver, tripId } = await rides.assignedTrip();
      // The driver was assigned three minutes ago (the clock moved on, as far as this trip knows).
      await rides.sql(`update "trips"."trips" set "assigned_at" = "assigned_at" - interval '3 minutes' where "id" = ?`, [tripId]);
      const cancelled = dataOf<any>(await rides.as(rider, CANCEL, { id: tripId, reason: 'waited too long' })).cancelTrip;
      assert.deepEqual(cancelled.cancellation, { by: 'RIDER', reason: 'waited too long', fee: { amount: '25.00', currency: 'EGP' } });
      const event = (await rides.events(tripId)).at(-1)!;
      assert.equal(event.type, 'TripCancelled');
      assert.equal(event.data.feeMinor, '2500');
      assert.equal(event.data.driverId, driver.driverId);
    });

    it('lets the assigned driver cancel before the ride starts, at no cost to the rider', async () => {
      const { driver, tripId } = await rides.assignedTrip();
      await rides.sql(`update "trips"."trips" set "assigned_at" = "assigned_at" - interval '3 minutes' where "id" = ?`, [tripId]);
      dataOf(await rides.as(driver, ARRIVE, { id: tripId }));
      const cancelled = dataOf<any>(await rides.as(driver, CANCEL, { id: tripId, reason: 'rider not at pickup' })).cancelTrip;
      assert.deepEqual(cancelled.cancellation, { by: 'DRIVER', reason: 'rider not at pickup', fee: { amount: '0.00', currency: 'EGP' } });
      assert.deepEqual((await rides.events(tripId)).at(-1)!.data.cancelledBy, 'DRIVER');
    });
  });
});
