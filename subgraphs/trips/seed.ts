import { latLngToCell } from 'h3-js';
import type { EntityManager } from '../../platform/db.ts';
import { DEMO_CURRENCY, type DemoCity } from '../../platform/demo-city.ts';
import { signQuote } from '../../platform/quote-token.ts';
import { Trip } from './entities.ts';

const QUOTE_TTL_MS = 10 * 60_000;
/** The demo trips' quoted commission (15 %) and late-cancellation fee (20.00 EGP). */
const DEMO_COMMISSION_BPS = 1_500;
const DEMO_CANCELLATION_FEE_MINOR = 2_000n;

/**
 * The demo city's trips with their statuses and drivers, each with a quote token signed for its claims
 * (as pricing would have issued it). Existing rows are left alone.
 */
export async function seedDemoTrips(em: EntityManager, city: DemoCity, quoteSigningSecret: string) {
  const driverUserIds = new Map(city.drivers.map((driver) => [driver.id, driver.userId]));
  const existing = new Set((await em.find(Trip, { id: { $in: city.trips.map((t) => t.id) } }, { fields: ['id'] })).map((t) => t.id));
  const missing = city.trips.filter((trip) => !existing.has(trip.id));
  if (missing.length === 0) return;
  for (const trip of missing) {
    const quoteToken = signQuote(
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
    em.create(Trip, {
      id: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId,
      driverUserId: trip.driverId ? (driverUserIds.get(trip.driverId) ?? null) : null,
      status: trip.status,
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
      quoteToken,
      idempotencyKey: `demo-${trip.id}`,
      requestedAt: trip.requestedAt,
      updatedAt: trip.requestedAt,
    });
  }
  await em.flush();
}
