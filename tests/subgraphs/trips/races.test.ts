import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorCodes } from '../../support/client.ts';
import { nextEvent, offset } from '../../support/rides.ts';
import type { Stack } from '../../support/stack.ts';
import { ACCEPT, CANCEL, Rides, ridesStack, TRIP } from './rides.ts';

const OFFER_EVENTS = `subscription { tripOffers { status trip { id } } }`;

describe('trip races (real Postgres and Redis)', () => {
  let stack: Stack;
  let rides: Rides;
  ridesStack((started) => ({ stack, rides } = started));

  it('assigns exactly one driver when every offered driver accepts at once; the others get CONFLICT', async () => {
    const pickup = rides.freshArea();
    const drivers = await Promise.all([100, 200, 300, 400, 500, 600].map((m) => rides.onlineDriverAt(offset(pickup, m))));
    const rider = await stack.signUp('RIDER');
    const { id: tripId } = await rides.request(rider, pickup);
    const offers = await rides.pendingOffers(tripId, 5);
    const offered = drivers.filter((driver) => offers.some((offer) => offer.driver_id === driver.driverId));
    assert.equal(offered.length, 5, 'offered to the five best at once');

    const results = await Promise.all(offered.map((driver) => rides.as(driver, ACCEPT, { id: tripId })));
    const winners = results.flatMap((result, i) => (result.body.data?.acceptTripOffer ? [offered[i]!] : []));
    assert.equal(winners.length, 1, 'one winner');
    assert.deepEqual(results.filter((result) => !result.body.data?.acceptTripOffer).map((result) => errorCodes(result)[0]), ['CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT']);

    const trip = (await rides.as(rider, TRIP, { id: tripId })).body.data.trip;
    assert.equal(trip.status, 'DRIVER_ASSIGNED');
    assert.deepEqual(trip.driver, { id: winners[0]!.driverId });
    const events = await rides.events(tripId);
    assert.deepEqual(events.filter((event) => event.type === 'TripMatched').map((event) => event.data.driverId), [winners[0]!.driverId]);
    const statuses = (await rides.offers(tripId)).map((offer) => offer.status).sort();
    assert.deepEqual(statuses, ['ACCEPTED', 'WITHDRAWN', 'WITHDRAWN', 'WITHDRAWN', 'WITHDRAWN']);
    // drivers follows: the winner is on the trip, everyone else may be offered the next one.
    await rides.waitForAvailability(winners[0]!, 'BUSY');
    for (const driver of drivers.filter((driver) => driver !== winners[0])) await rides.waitForAvailability(driver, 'AVAILABLE');
  });

  it('tells every driver who lost a simultaneous accept that the trip was TAKEN, exactly once', async () => {
    const pickup = rides.freshArea();
    const drivers = await Promise.all([100, 200, 300, 400, 500].map((m) => rides.onlineDriverAt(offset(pickup, m))));
    const streams = drivers.map((driver) => rides.subscribe(driver, OFFER_EVENTS));
    const { id: tripId } = await rides.request(await stack.signUp('RIDER'), pickup);
    for (const offers of streams) assert.equal((await nextEvent(offers, 10_000, 'the offer')).data!.tripOffers.status, 'PENDING');

    const results = await Promise.all(drivers.map((driver) => rides.as(driver, ACCEPT, { id: tripId })));
    const won = results.findIndex((result) => result.body.data?.acceptTripOffer);
    const losers = drivers.flatMap((driver, i) => (i === won ? [] : [{ driver, offers: streams[i]! }]));
    assert.equal(losers.length, 4);
    for (const { offers } of losers) assert.deepEqual((await nextEvent(offers, 10_000, 'the end of the offer')).data!.tripOffers, { status: 'TAKEN', trip: { id: tripId } });

    // The next event of each loser is the next trip's offer: the end of the first came once.
    for (const { driver } of losers) await rides.waitForAvailability(driver, 'AVAILABLE');
    const { id: nextTrip } = await rides.request(await stack.signUp('RIDER'), pickup);
    for (const { offers } of losers) assert.deepEqual((await nextEvent(offers, 10_000, 'the next offer')).data!.tripOffers, { status: 'PENDING', trip: { id: nextTrip } });
  });

  it("ends an accept racing the rider's cancel in one consistent state, every time", async () => {
    const outcomes = { acceptWon: 0, cancelFirst: 0 };
    for (let round = 0; round < 12; round++) {
      const pickup = rides.freshArea();
      const driver = await rides.onlineDriverAt(offset(pickup, 250));
      const rider = await stack.signUp('RIDER');
      const { id: tripId } = await rides.request(rider, pickup);
      await rides.pendingOffers(tripId);
      const [accept, cancel] = await Promise.all([rides.as(driver, ACCEPT, { id: tripId }), rides.as(rider, CANCEL, { id: tripId, reason: 'race' })]);

      // The rider may cancel at any time before the ride: the cancel always succeeds.
      assert.equal(cancel.body.data?.cancelTrip?.status, 'CANCELLED', JSON.stringify(cancel.body.errors));
      assert.equal(await rides.status(tripId), 'CANCELLED');
      const events = await rides.events(tripId);
      const cancelled = events.find((event) => event.type === 'TripCancelled')!;
      const matched = events.filter((event) => event.type === 'TripMatched');
      const [offer] = await rides.offers(tripId);
      if (accept.body.data?.acceptTripOffer) {
        outcomes.acceptWon += 1;
        assert.equal(matched.length, 1);
        assert.equal(cancelled.data.driverId, driver.driverId, 'the cancellation frees the assigned driver');
        assert.equal(offer!.status, 'ACCEPTED');
        assert.deepEqual(events.map((event) => event.type), ['TripRequested', 'TripMatched', 'TripCancelled']);
      } else {
        outcomes.cancelFirst += 1;
        assert.deepEqual(errorCodes(accept), ['CONFLICT']);
        assert.equal(matched.length, 0);
        assert.equal(cancelled.data.driverId, null);
        assert.equal(offer!.status, 'WITHDRAWN');
        assert.deepEqual(events.map((event) => event.type), ['TripRequested', 'TripCancelled']);
      }
      assert.equal(cancelled.data.feeMinor, '0', 'cancelled within the grace period');
      await rides.waitForAvailability(driver, 'AVAILABLE');
    }
    assert.equal(outcomes.acceptWon + outcomes.cancelFirst, 12);
  });

  it('never gives a driver two trips, even when they accept two offers at once', async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    const [riderA, riderB] = await Promise.all([stack.signUp('RIDER'), stack.signUp('RIDER')]);
    const { id: tripA } = await rides.request(riderA, pickup);
    await rides.pendingOffers(tripA);
    const { id: tripB } = await rides.request(riderB, offset(pickup, 50));
    // drivers reserves a driver for one trip at a time; a second, overlapping offer is written by hand
    // (as a stale reservation would leave it) so that only the database stands between the two accepts.
    await rides.sql(
      `insert into "trips"."trip_offers" ("id", "trip_id", "driver_id", "driver_user_id", "round", "status", "pickup_distance_m", "score", "offered_at", "expires_at")
       values (?, ?, ?, ?, 1, 'PENDING', 300, 1, now(), now() + interval '1 minute')`,
      [randomUUID(), tripB, driver.driverId, driver.id],
    );
    const results = await Promise.all([tripA, tripB].map((id) => rides.as(driver, ACCEPT, { id })));
    const won = results.filter((result) => result.body.data?.acceptTripOffer);
    assert.equal(won.length, 1, JSON.stringify(results.map((result) => result.body.errors)));
    assert.deepEqual(errorCodes(results.find((result) => !result.body.data?.acceptTripOffer)!), ['CONFLICT']);
    const assigned = await rides.sql<{ id: string }>(`select "id" from "trips"."trips" where "driver_id" = ? and "status" = 'DRIVER_ASSIGNED'`, [driver.driverId]);
    assert.equal(assigned.length, 1);
  });
});
