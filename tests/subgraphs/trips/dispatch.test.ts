import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startSubgraph, type RunningSubgraph } from '../../../platform/subgraph.ts';
import { SUBGRAPHS } from '../../../subgraphs/index.ts';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { nextEvent, offset, waitFor } from '../../support/rides.ts';
import { startStack, type Stack } from '../../support/stack.ts';
import { ACCEPT, DECLINE, Rides, ridesStack, TRIP } from './rides.ts';

/** Rounds of 1.5 s: a trip nobody takes runs all three in under five seconds, and a test has time to answer. */
const OFFER_TIMEOUT_MS = 1_500;

describe('dispatch rounds', () => {
  let stack: Stack;
  let rides: Rides;
  ridesStack((started) => ({ stack, rides } = started), { DISPATCH_OFFER_TIMEOUT_MS: String(OFFER_TIMEOUT_MS) });

  it('widens the search 3 → 5 → 8 km, offers each driver once, then cancels with NO_DRIVERS_FOUND at no charge', async () => {
    const pickup = rides.freshArea();
    const [at2km, at4km, at7km, at10km] = await Promise.all([2_000, 4_000, 7_000, 10_000].map((m) => rides.onlineDriverAt(offset(pickup, m))));
    const rider = await stack.signUp('RIDER');
    const { id: tripId } = await rides.request(rider, pickup);

    await rides.waitForStatus(tripId, 'CANCELLED', 10 * OFFER_TIMEOUT_MS + 5_000);
    const offers = await rides.offers(tripId);
    assert.deepEqual(offers.map((offer) => [offer.driver_id, offer.round, offer.status]), [
      [at2km.driverId, 1, 'EXPIRED'],
      [at4km.driverId, 2, 'EXPIRED'],
      [at7km.driverId, 3, 'EXPIRED'],
    ]);
    assert.ok(!offers.some((offer) => offer.driver_id === at10km.driverId), 'beyond 8 km nobody is asked');
    const trip = dataOf<any>(await rides.as(rider, TRIP, { id: tripId })).trip;
    assert.deepEqual(trip.cancellation, { by: 'SYSTEM', reason: 'NO_DRIVERS_FOUND', fee: { amount: '0.00', currency: 'EGP' } });
    const cancelled = (await rides.events(tripId)).at(-1)!;
    assert.equal(cancelled.type, 'TripCancelled');
    assert.deepEqual({ ...cancelled.data, cancelledAt: null }, {
      tripId, riderId: rider.id, driverId: null, driverUserId: null, cancelledBy: 'SYSTEM', reason: 'NO_DRIVERS_FOUND', feeMinor: '0', currency: 'EGP', cancelledAt: null,
    });
    for (const driver of [at2km, at4km, at7km]) await rides.waitForAvailability(driver, 'AVAILABLE');
  });

  it("withdraws an offer whose round ran out from the driver's stream as EXPIRED", async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 1_000));
    const offers = rides.subscribe(driver, `subscription { tripOffers { status round expiresAt trip { id } } }`);
    const { id: tripId } = await rides.request(await stack.signUp('RIDER'), pickup);
    const made = (await nextEvent(offers, 10_000, 'the offer')).data!.tripOffers;
    assert.deepEqual({ status: made.status, round: made.round, trip: made.trip.id }, { status: 'PENDING', round: 1, trip: tripId });
    const ended = (await nextEvent(offers, 10 * OFFER_TIMEOUT_MS, 'the end of the round')).data!.tripOffers;
    assert.deepEqual(ended, { status: 'EXPIRED', round: 1, expiresAt: made.expiresAt, trip: { id: tripId } });
    assert.ok(Date.now() >= Date.parse(made.expiresAt), 'not before the offer expired');
    assertErrorCode(await rides.as(driver, ACCEPT, { id: tripId }), 'CONFLICT');
  });

  it('does not offer the trip again to drivers who declined, and moves on once all have answered', async () => {
    const pickup = rides.freshArea();
    const [first, second] = await Promise.all([500, 800].map((m) => rides.onlineDriverAt(offset(pickup, m))));
    const later = await rides.onlineDriverAt(offset(pickup, 4_000));
    const rider = await stack.signUp('RIDER');
    const { id: tripId } = await rides.request(rider, pickup);
    await rides.pendingOffers(tripId, 2);
    const declines = await Promise.all([first, second].map((driver) => rides.as(driver, DECLINE, { id: tripId })));
    assert.deepEqual(declines.map((result) => dataOf<any>(result).declineTripOffer), [true, true]);

    const offers = await waitFor(async () => {
      const all = await rides.offers(tripId);
      return all.some((offer) => offer.driver_id === later.driverId) ? all : undefined;
    }, { what: 'the second round' });
    assert.deepEqual(offers.map((offer) => [offer.driver_id, offer.round]), [[first.driverId, 1], [second.driverId, 1], [later.driverId, 2]]);
    assert.deepEqual(offers.slice(0, 2).map((offer) => offer.status), ['DECLINED', 'DECLINED']);
    assert.ok(offers[2]!.offered_at < offers[0]!.expires_at, 'round 2 started when the last driver declined, before round 1 timed out');
    const accepted = dataOf<any>(await rides.as(later, ACCEPT, { id: tripId })).acceptTripOffer;
    assert.deepEqual(accepted.driver, { id: later.driverId });
    for (const driver of [first, second]) await rides.waitForAvailability(driver, 'AVAILABLE');
  });

  it('shares the nearby drivers among riders booking at the same moment: every trip gets an offer at once', async () => {
    const pickup = rides.freshArea();
    const drivers = await Promise.all([200, 400, 600].map((m) => rides.onlineDriverAt(offset(pickup, m))));
    const riders = await Promise.all([0, 1, 2].map(() => stack.signUp('RIDER')));
    const trips = await Promise.all(riders.map((rider, i) => rides.request(rider, offset(pickup, 50 * i))));
    const offered = await waitFor(async () => {
      const perTrip = await Promise.all(trips.map(async (trip) => (await rides.offers(trip.id)).filter((offer) => offer.round === 1)));
      return perTrip.every((offers) => offers.length > 0) ? perTrip : undefined;
    }, { what: 'every trip to be offered', timeoutMs: OFFER_TIMEOUT_MS });
    const driversOffered = offered.flat().map((offer) => offer.driver_id);
    assert.equal(new Set(driversOffered).size, driversOffered.length, 'a driver is offered one trip at a time');
    assert.deepEqual(new Set(driversOffered), new Set(drivers.map((driver) => driver.driverId)));
  });

  it('keeps looking within a round that found nobody free, and offers the trip as soon as a driver frees up', async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    const [first, second] = await Promise.all([0, 1].map(() => stack.signUp('RIDER')));
    const { id: firstTrip } = await rides.request(first, pickup);
    await rides.pendingOffers(firstTrip, 1);
    const { id: secondTrip } = await rides.request(second, offset(pickup, 100));
    await waitFor(async () => ((await rides.status(secondTrip)) === 'MATCHING' ? true : undefined), { what: 'the second trip to start its round' });
    assert.deepEqual(await rides.offers(secondTrip), [], 'its only driver is offered the first trip');

    await rides.as(driver, DECLINE, { id: firstTrip });
    const [offer] = await waitFor(async () => {
      const offers = await rides.offers(secondTrip);
      return offers.length > 0 ? offers : undefined;
    }, { what: 'the freed driver to be offered the waiting trip' });
    assert.equal(offer!.driver_id, driver.driverId);
    assert.equal(offer!.round, 1, 'still the first round: the search did not have to widen');
  });

  it('offers the five best drivers at once, of the quoted class or better, never XL for a sedan', async () => {
    const pickup = rides.freshArea();
    const economy = await Promise.all([300, 600, 900, 1_200].map((m) => rides.onlineDriverAt(offset(pickup, m), 'ECONOMY')));
    const premium = await rides.onlineDriverAt(offset(pickup, 1_500), 'PREMIUM');
    const farther = await rides.onlineDriverAt(offset(pickup, 2_700), 'ECONOMY');
    const xl = await rides.onlineDriverAt(offset(pickup, 100), 'XL');
    const rider = await stack.signUp('RIDER');
    const { id: tripId } = await rides.request(rider, pickup, { vehicleType: 'ECONOMY' });
    const offers = await rides.pendingOffers(tripId, 5);
    assert.deepEqual(new Set(offers.map((offer) => offer.driver_id)), new Set([...economy, premium].map((driver) => driver.driverId)));
    assert.ok(![farther, xl].some((driver) => offers.some((offer) => offer.driver_id === driver.driverId)));
  });

  it('offers an XL trip to XL drivers only', async () => {
    const pickup = rides.freshArea();
    const [sedan, van] = [await rides.onlineDriverAt(offset(pickup, 100), 'PREMIUM'), await rides.onlineDriverAt(offset(pickup, 900), 'XL')];
    const rider = await stack.signUp('RIDER');
    const { id: tripId } = await rides.request(rider, pickup, { vehicleType: 'XL' });
    const [offer] = await rides.pendingOffers(tripId);
    assert.equal(offer!.driver_id, van.driverId);
    assert.ok(!(await rides.offers(tripId)).some((o) => o.driver_id === sedan.driverId));
  });
});

describe('dispatch across replicas and restarts', () => {
  let stack: Stack;
  let rides: Rides;
  let secondReplica: RunningSubgraph;

  before(async () => {
    stack = await startStack({ subgraphs: ['drivers', 'trips'], env: { DISPATCH_OFFER_TIMEOUT_MS: String(OFFER_TIMEOUT_MS) } });
    secondReplica = await startSubgraph(SUBGRAPHS.trips, stack.config('trips'));
    rides = new Rides(stack);
  });
  after(async () => {
    await rides?.dispose();
    await secondReplica?.stop();
    await stack?.stop();
  });

  /** A trip booked by a replica that died before it could start dispatch: committed, due, never kicked. */
  async function orphanedTrip(pickup: { lat: number; lng: number }): Promise<string> {
    const rider = await stack.signUp('RIDER');
    const em = stack.subgraph('trips').db.fork();
    const trip = em.create(Trip, {
      id: randomUUID(), riderId: rider.id, driverId: null, driverUserId: null, status: 'REQUESTED', vehicleType: 'COMFORT', paymentMethod: 'CASH',
      pickupLat: pickup.lat, pickupLng: pickup.lng, dropoffLat: pickup.lat + 0.02, dropoffLng: pickup.lng, fareMinor: 5000n, currency: 'EGP',
      distanceM: 3000, durationS: 600, quoteId: randomUUID(), quoteToken: 'orphaned', idempotencyKey: `orphan-${randomUUID()}`,
      nextDispatchAt: new Date(Date.now() - 1_000),
    });
    await em.flush();
    return trip.id;
  }

  it('dispatches trips nobody kicked, each exactly once, however many replicas run the loop', async () => {
    const areas = Array.from({ length: 6 }, () => rides.freshArea());
    const drivers = await Promise.all(areas.map((area) => rides.onlineDriverAt(offset(area, 300))));
    const tripIds = await Promise.all(areas.map((area) => orphanedTrip(area)));
    for (const [i, tripId] of tripIds.entries()) {
      const [offer] = await rides.pendingOffers(tripId);
      assert.equal(offer!.driver_id, drivers[i]!.driverId);
    }
    const rounds = await rides.sql<{ dispatch_round: number; offers: string }>(
      `select t."dispatch_round", (select count(*) from "trips"."trip_offers" o where o."trip_id" = t."id") as "offers" from "trips"."trips" t where t."id" in (${tripIds.map(() => '?').join(', ')})`,
      tripIds,
    );
    assert.deepEqual(rounds.map((row) => [row.dispatch_round, Number(row.offers)]), tripIds.map(() => [1, 1]));
  });

  it('takes over a round whose replica died before timing its end', async () => {
    const pickup = rides.freshArea();
    const near = await rides.onlineDriverAt(offset(pickup, 1_000));
    const tripId = await orphanedTrip(pickup);
    await rides.pendingOffers(tripId);
    const farther = await rides.onlineDriverAt(offset(pickup, 4_000));
    // The round's end was this replica's to time; pretend it died: only the loops are left to notice.
    await rides.sql(`update "trips"."trips" set "next_dispatch_at" = now() - interval '1 second' where "id" = ?`, [tripId]);
    const offers = await waitFor(async () => {
      const all = await rides.offers(tripId);
      return all.some((offer) => offer.driver_id === farther.driverId) ? all : undefined;
    }, { what: 'round 2' });
    assert.deepEqual(offers.map((offer) => [offer.driver_id, offer.round, offer.status]), [[near.driverId, 1, 'EXPIRED'], [farther.driverId, 2, 'PENDING']]);
  });
});
