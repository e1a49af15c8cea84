import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DriverDirectory } from '../../../subgraphs/trips/dispatch/directory.ts';
import { Dispatcher } from '../../../subgraphs/trips/dispatch/dispatcher.ts';
import type { DriverReleases } from '../../../subgraphs/trips/dispatch/releases.ts';
import type { Candidate } from '../../../subgraphs/trips/dispatch/scoring.ts';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import type { TripLifecycle } from '../../../subgraphs/trips/lifecycle.ts';
import type { TripNotifier } from '../../../subgraphs/trips/live.ts';
import { startStack, type Stack } from '../../support/stack.ts';

let areas = 0;

function candidate(distanceM: number): Candidate {
  return { driverId: randomUUID(), userId: randomUUID(), vehicleType: 'ECONOMY', distanceM, rating: 4.8, acceptanceRate: 0.9, completionRate: 0.95, idleSeconds: 60 };
}

/**
 * A directory whose drivers are always taken by another trip between the look and the reservation
 * `takenLooks` times, then free: what a burst of bookings near the same drivers does to a round.
 */
function racingDirectory(takenLooks: number) {
  const calls: string[] = [];
  let looks = 0;
  const directory: DriverDirectory = {
    async candidates() {
      looks += 1;
      calls.push('candidates');
      return [candidate(300 * looks), candidate(300 * looks + 100)];
    },
    async reserve(_tripId, driverIds, atMost) {
      calls.push('reserve');
      return looks <= takenLooks ? [] : driverIds.slice(0, atMost);
    },
    async release() {
      return 0;
    },
  };
  return { directory, calls };
}

/**
 * The dispatcher alone, on the trips database of a running stack, with a scripted driver directory.
 * Trips are kicked directly; their rows are due far in the future so the stack's own loop never
 * claims them. Stopping the dispatcher waits for its work and cancels the timers of later looks.
 */
describe('the dispatcher, when other trips take the drivers it found', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ subgraphs: ['trips'] });
  });
  after(() => stack?.stop());

  function dispatcherWith(directory: DriverDirectory): Dispatcher {
    const quiet = async () => undefined;
    return new Dispatcher({
      db: stack.subgraph('trips').db,
      directory,
      lifecycle: {} as TripLifecycle,
      notifier: { offered: quiet, tripChanged: quiet, offersEnded: quiet } as unknown as TripNotifier,
      releases: { release: quiet, sweep: quiet } as unknown as DriverReleases,
      config: stack.config('trips').dispatch,
      logger: stack.subgraph('trips').runtime.logger,
    });
  }

  /** A new area, far from every other (its trips compete only with each other). */
  const newArea = () => ({ lat: 30.0444, lng: 31.2357 + ++areas * 0.5 });

  /** A trip in an area of its own (no other trip competes for its drivers) or at `pickup`, due in an hour (or when given). */
  async function bookedTrip(nextDispatchAt = new Date(Date.now() + 3_600_000), pickup = newArea()): Promise<string> {
    const em = stack.subgraph('trips').db.fork();
    const trip = em.create(Trip, {
      id: randomUUID(), riderId: randomUUID(), driverId: null, driverUserId: null, status: 'REQUESTED', vehicleType: 'ECONOMY', paymentMethod: 'CASH',
      pickupLat: pickup.lat, pickupLng: pickup.lng, dropoffLat: pickup.lat + 0.02, dropoffLng: pickup.lng, fareMinor: 5000n, currency: 'EGP',
      distanceM: 3000, durationS: 600, quoteId: randomUUID(), quoteToken: 'scripted', idempotencyKey: `scripted-${randomUUID()}`,
      nextDispatchAt,
    });
    await em.flush();
    return trip.id;
  }

  const rowOf = async (tripId: string) => {
    const [row] = await stack.subgraph('trips').db.fork().getConnection().execute(`select "status", "dispatch_round", "version" from "trips"."trips" where "id" = ?`, [tripId]);
    const offers = await stack.subgraph('trips').db.fork().getConnection().execute(`select "round", "pickup_distance_m" from "trips"."trip_offers" where "trip_id" = ? order by "pickup_distance_m"`, [tripId]);
    return { status: row.status, round: row.dispatch_round, version: row.version, offers: offers.map((offer: any) => [offer.round, offer.pickup_distance_m]) };
  };

  it('looks again at once and offers the trip to drivers free now, in the same attempt of round 1', async () => {
    const { directory, calls } = racingDirectory(1);
    const dispatcher = dispatcherWith(directory);
    const tripId = await bookedTrip();
    dispatcher.kick(tripId, new Date(Date.now() + 7_200_000));
    await dispatcher.stop();

    assert.deepEqual(calls, ['candidates', 'reserve', 'candidates', 'reserve']);
    // With nobody competing, its share is every ranked candidate up to the offer count: both of the second look.
    assert.deepEqual(await rowOf(tripId), { status: 'MATCHING', round: 1, version: 1, offers: [[1, 600], [1, 700]] });
  });

  it('gives up looking after three attempts in a row lose every driver, and waits to look again within the round', async () => {
    const { directory, calls } = racingDirectory(Infinity);
    const dispatcher = dispatcherWith(directory);
    const tripId = await bookedTrip();
    dispatcher.kick(tripId, new Date(Date.now() + 7_200_000));
    await dispatcher.stop();

    assert.deepEqual(calls, ['candidates', 'reserve', 'candidates', 'reserve', 'candidates', 'reserve']);
    assert.deepEqual(await rowOf(tripId), { status: 'MATCHING', round: 1, version: 1, offers: [] });
  });

  it('runs a just-booked trip at once without claiming it, and a loop that claims it meanwhile changes nothing', async () => {
    const reserved: string[] = [];
    const released: string[] = [];
    const { directory } = racingDirectory(0);
    const recording: DriverDirectory = {
      candidates: directory.candidates,
      async reserve(tripId, driverIds, atMost) {
        const got = await directory.reserve(tripId, driverIds, atMost);
        reserved.push(...got);
        return got;
      },
      async release(_tripId, driverIds) {
        released.push(...driverIds);
        return driverIds.length;
      },
    };
    const booking = dispatcherWith(recording);
    const loop = dispatcherWith(recording);
    // Already due: as if the booking's own round had outlasted UNKICKED_AFTER_MS, so a loop takes it too.
    const tripId = await bookedTrip(new Date(Date.now() - 1_000));
    const [row] = await stack.subgraph('trips').db.fork().getConnection().execute(`select * from "trips"."trips" where "id" = ?`, [tripId]);
    booking.kickBooked({ id: tripId, vehicleType: row.vehicle_type, pickupLat: row.pickup_lat, pickupLng: row.pickup_lng });
    await loop.tick();
    await Promise.all([booking.stop(), loop.stop()]);

    const after = await rowOf(tripId);
    assert.deepEqual([after.status, after.round, after.version, after.offers.length], ['MATCHING', 1, 1, 2], 'one first round, written once');
    const offered = await stack.subgraph('trips').db.fork().getConnection().execute(`select "driver_id" from "trips"."trip_offers" where "trip_id" = ?`, [tripId]);
    const kept = reserved.filter((id) => !released.includes(id));
    assert.deepEqual(kept.sort(), offered.map((offer: { driver_id: string }) => offer.driver_id).sort(), 'drivers reserved by a round that lost were released');
  });

  it('shares drivers by the trips dispatching near each pickup, for rounds that ask at the same moment', async () => {
    const directory: DriverDirectory = {
      async candidates() {
        return [candidate(100), candidate(200), candidate(300), candidate(400)];
      },
      async reserve(_tripId, driverIds, atMost) {
        return driverIds.slice(0, atMost);
      },
      async release() {
        return 0;
      },
    };
    const dispatcher = dispatcherWith(directory);
    const crowded = newArea();
    const together = await Promise.all([bookedTrip(undefined, crowded), bookedTrip(undefined, crowded), bookedTrip(undefined, crowded)]);
    const alone = await bookedTrip();
    const rows = await stack.subgraph('trips').db.fork().getConnection().execute(`select * from "trips"."trips" where "id" in (?, ?, ?, ?)`, [...together, alone]);
    for (const row of rows) dispatcher.kickBooked({ id: row.id, vehicleType: row.vehicle_type, pickupLat: row.pickup_lat, pickupLng: row.pickup_lng });
    await dispatcher.stop();

    // Each of the three sees the other two: a third of the four candidates, rounded down (one offer each).
    for (const tripId of together) assert.equal((await rowOf(tripId)).offers.length, 1, `trip ${tripId} of the crowded area`);
    // Nobody near the lone trip: every candidate, up to the offer count.
    assert.equal((await rowOf(alone)).offers.length, Math.min(4, stack.config('trips').dispatch.offerCount));
  });
});
