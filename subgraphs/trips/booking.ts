import type { EntityManager } from '../../platform/db.ts';
import type { QuoteClaims } from '../../platform/quote-token.ts';
import { UNKICKED_AFTER_MS } from './dispatch/dispatcher.ts';
import type { PaymentMethod, Trip } from './entities.ts';
import { tripEvents, type EventRecorder } from './events.ts';
import { insertOf, newTrip, query } from './rows.ts';

/** Who books, how the ride is paid, and under which key: what a booking adds to its quote. */
export interface Booking {
  /** `bookingTripId` of the booker and the key: every attempt of one booking names one trip. */
  id: string;
  riderId: string;
  paymentMethod: PaymentMethod;
  /** The signed quote as the booker sent it. */
  quoteToken: string;
  idempotencyKey: string;
  partnerId?: string | null;
  partnerNote?: string | null;
}

/**
 * The REQUESTED trip a quote describes (route, vehicle type, fare, commission and cancellation fee as
 * pricing signed them), for a rider's booking (TripsService) and a partner's (PartnerBookings) alike.
 * Due for the dispatcher loop UNKICKED_AFTER_MS after `now`, should the booking's own kick be lost.
 */
export function tripOfQuote(em: EntityManager, claims: QuoteClaims, booking: Booking, now: Date = new Date()): Trip {
  return newTrip(em, {
    id: booking.id,
    riderId: booking.riderId,
    partnerId: booking.partnerId ?? null,
    partnerNote: booking.partnerNote ?? null,
    driverId: null,
    driverUserId: null,
    status: 'REQUESTED',
    vehicleType: claims.vehicleType,
    paymentMethod: booking.paymentMethod,
    pickupLat: claims.pickup.lat,
    pickupLng: claims.pickup.lng,
    dropoffLat: claims.dropoff.lat,
    dropoffLng: claims.dropoff.lng,
    fareMinor: BigInt(claims.fareMinor),
    currency: claims.currency,
    distanceM: claims.distanceM,
    durationS: claims.durationS,
    commissionBps: claims.commissionBps,
    quoteCancellationFeeMinor: BigInt(claims.cancellationFeeMinor),
    quoteId: claims.quoteId,
    quoteToken: booking.quoteToken,
    idempotencyKey: booking.idempotencyKey,
    requestedAt: now,
    updatedAt: now,
    nextDispatchAt: new Date(now.getTime() + UNKICKED_AFTER_MS),
  });
}

/**
 * Writes a booked trip and its TripRequested event in one statement (one round trip, its own
 * transaction). A unique constraint it breaks (the key raced, the quote used, the rider on an active
 * trip) fails it whole: nothing is written, and the caller explains the conflict.
 */
export async function writeBookedTrip(em: EntityManager, events: EventRecorder, trip: Trip): Promise<void> {
  const insert = insertOf(em, trip);
  const outbox = events.outboxInsert(tripEvents.requested(trip));
  await query(em, `with "trip" as (${insert.sql}), "event" as (${outbox.sql}) select 1`, [...insert.params, ...outbox.params]);
  outbox.committed();
}
