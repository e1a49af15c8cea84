import { latLngToCell } from 'h3-js';
import type { EntityManager } from '../../platform/db.ts';
import { DEMO_CURRENCY, demoTripEndedAt, type DemoCity, type DemoTrip } from '../../platform/demo-city.ts';
import { signQuote } from '../../platform/quote-token.ts';
import { ACTIVE_TRIP_STATUSES, Trip } from './entities.ts';

const QUOTE_TTL_MS = 10 * 60_000;
/** The demo trips' quoted commission (15 %) and late-cancellation fee (20.00 EGP). */
const DEMO_COMMISSION_BPS = 1_500;
const DEMO_CANCELLATION_FEE_MINOR = 2_000n;

/**
 * The demo city's trips, every one finished (COMPLETED or CANCELLED) with the times of its steps, each
 * with a quote token signed for its claims (as pricing would have issued it). Existing rows are left
 * alone, except demo trips an earlier version seeded as active: those are finished as described now, so
 * no demo rider is kept from booking and no demo driver looks busy. Seeding twice changes nothing.
 */
export async function seedDemoTrips(em: EntityManager, city: DemoCity, quoteSigningSecret: string) {
  const driverUserIds = new Map(city.drivers.map((driver) => [driver.id, driver.userId]));
  const rows = await em.find(Trip, { id: { $in: city.trips.map((t) => t.id) } }, { fields: ['id', 'status'] });
  const existing = new Map(rows.map((row) => [row.id, row]));
  for (const trip of city.trips) {
    const row = existing.get(trip.id);
    if (!row) {
      em.create(Trip, {
        id: trip.id,
        riderId: trip.riderId,
        vehicleType: trip.vehicleType,
        paymentMethod: trip.paymentMethod,
        pickupLat: trip.pickup.lat,
        pickupLng: trip.pickup.lng,
        dropoffLat: trip.dropoff.lat,
        dropoffLng: trip.dropoff.lng,
        fareMinor: trip.fareMinor,
        currency: DEMO_CURRENCY,
        distanceM: trip.distanceM,
        durationS: trip.durationS,
        commissionBps: DEMO_COMMISSION_BPS,
        quoteCancellationFeeMinor: DEMO_CANCELLATION_FEE_MINOR,
        quoteId: trip.quoteId,
        quoteToken: signedQuote(trip, quoteSigningSecret),
        idempotencyKey: `demo-${trip.id}`,
        requestedAt: trip.requestedAt,
        ...outcomeOf(trip, driverUserIds),
      });
    } else if ((ACTIVE_TRIP_STATUSES as readonly string[]).includes(row.status)) {
      em.assign(row, outcomeOf(trip, driverUserIds));
    }
  }
  await em.flush();
}

/** The columns a finished trip's lifecycle wrote: status, driver, step times, cancellation, dispatch bookkeeping. */
function outcomeOf(trip: DemoTrip, driverUserIds: ReadonlyMap<string, string>) {
  // One version per transition, as the lifecycle counts them: REQUESTED → MATCHING, then each step.
  const steps = [trip.assignedAt, trip.arrivedAt, trip.startedAt, trip.completedAt, trip.cancelledAt].filter((at) => at !== null).length;
  return {
    status: trip.status,
    driverId: trip.driverId,
    driverUserId: trip.driverId ? (driverUserIds.get(trip.driverId) ?? null) : null,
    assignedAt: trip.assignedAt,
    arrivedAt: trip.arrivedAt,
    startedAt: trip.startedAt,
    completedAt: trip.completedAt,
    cancelledAt: trip.cancelledAt,
    cancelledBy: trip.cancellation?.by ?? null,
    cancellationReason: trip.cancellation?.reason ?? null,
    cancellationFeeMinor: trip.cancellation ? 0n : null,
    dispatchRound: trip.dispatchRounds,
    nextDispatchAt: null,
    roundEndsAt: null,
    version: 1 + steps,
    updatedAt: demoTripEndedAt(trip),
  };
}

function signedQuote(trip: DemoTrip, quoteSigningSecret: string): string {
  return signQuote(
    {
      quoteId: trip.quoteId,
      riderId: trip.riderId,
      vehicleType: trip.vehicleType,
      pickup: trip.pickup,
      dropoff: trip.dropoff,
      fareMinor: trip.fareMinor.toString(),
      currency: DEMO_CURRENCY,
      distanceM: trip.distanceM,
      durationS: trip.durationS,
      expiresAt: trip.requestedAt.getTime() + QUOTE_TTL_MS,
      commissionBps: DEMO_COMMISSION_BPS,
      cancellationFeeMinor: DEMO_CANCELLATION_FEE_MINOR.toString(),
      surgeMultiplier: '1.00',
      h3Cell: latLngToCell(trip.pickup.lat, trip.pickup.lng, 8),
    },
    quoteSigningSecret,
  );
}
