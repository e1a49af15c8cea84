import type { EntityManager } from '../../platform/db.ts';
import type { OutboxInsert, OutboxSelect } from '../../platform/events/index.ts';
import type { CancelledBy, PaymentMethod, Trip, VehicleType } from './entities.ts';

/**
 * The part of the event bus (platform/events) trips writes with: the outbox, inside the caller's
 * transaction, or as a `with` clause of the one statement that makes the change.
 */
export interface EventRecorder {
  record<T>(em: EntityManager, event: { type: string; key: string; data: T }): unknown;
  outboxInsert<T>(event: { type: string; key: string; data: T }): Pick<OutboxInsert<T>, 'sql' | 'params' | 'committed'>;
  outboxInsertSelect(event: OutboxSelect): Pick<OutboxInsert<unknown>, 'sql' | 'params' | 'committed'>;
}

type Point = { lat: number; lng: number };

export interface TripRequestedData {
  tripId: string; riderId: string;
  /** The booked quote's row id in pricing (the `quoteId` claim): pricing keeps that quote for good. */
  quoteId: string;
  vehicleType: VehicleType; pickup: Point; dropoff: Point;
  fareMinor: string; currency: string; paymentMethod: PaymentMethod; requestedAt: string;
}
export interface TripMatchedData { tripId: string; riderId: string; driverId: string; driverUserId: string; vehicleType: VehicleType; matchedAt: string }
export interface TripStartedData { tripId: string; riderId: string; driverId: string; driverUserId: string; startedAt: string }
export interface TripCompletedData {
  tripId: string; riderId: string; driverId: string; driverUserId: string;
  fareMinor: string; commissionMinor: string; currency: string; paymentMethod: PaymentMethod; completedAt: string;
}
export interface TripCancelledData {
  tripId: string; riderId: string; driverId: string | null; driverUserId: string | null;
  cancelledBy: CancelledBy; reason: string; feeMinor: string; currency: string; cancelledAt: string;
}

/** fare × bps / 10 000, rounded half-up to the minor unit (exact: integers only). */
export function commissionMinor(fareMinor: bigint, commissionBps: number): bigint {
  return (fareMinor * BigInt(commissionBps) + 5_000n) / 10_000n;
}

const iso = (date: Date | null | undefined) => (date ?? new Date()).toISOString();

/**
 * TripMatched (TripMatchedData), computed by acceptOffer's one statement from the assigned trip row
 * `alias`; `matchedAt` is the time it writes to assigned_at.
 */
export function matchedEvent(alias: string, matchedAt: Date): OutboxSelect {
  return {
    type: 'TripMatched',
    from: alias,
    key: `${alias}."id"::text`,
    data: `jsonb_build_object('tripId', ${alias}."id", 'riderId', ${alias}."rider_id", 'driverId', ${alias}."driver_id", 'driverUserId', ${alias}."driver_user_id", 'vehicleType', ${alias}."vehicle_type", 'matchedAt', ?::text)`,
    params: [matchedAt.toISOString()],
  };
}

/** The events of the trip lifecycle, built from the row as the transition left it, each keyed by trip id. */
export const tripEvents = {
  requested(trip: Trip) {
    return event<TripRequestedData>('TripRequested', trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      quoteId: trip.quoteId,
      vehicleType: trip.vehicleType,
      pickup: { lat: trip.pickupLat, lng: trip.pickupLng },
      dropoff: { lat: trip.dropoffLat, lng: trip.dropoffLng },
      fareMinor: trip.fareMinor.toString(),
      currency: trip.currency,
      paymentMethod: trip.paymentMethod,
      requestedAt: iso(trip.requestedAt),
    });
  },
  started(trip: Trip) {
    return event<TripStartedData>('TripStarted', trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId!,
      driverUserId: trip.driverUserId!,
      startedAt: iso(trip.startedAt),
    });
  },
  completed(trip: Trip) {
    return event<TripCompletedData>('TripCompleted', trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId!,
      driverUserId: trip.driverUserId!,
      fareMinor: trip.fareMinor.toString(),
      commissionMinor: commissionMinor(BigInt(trip.fareMinor), trip.commissionBps).toString(),
      currency: trip.currency,
      paymentMethod: trip.paymentMethod,
      completedAt: iso(trip.completedAt),
    });
  },
  cancelled(trip: Trip) {
    return event<TripCancelledData>('TripCancelled', trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId ?? null,
      driverUserId: trip.driverUserId ?? null,
      cancelledBy: trip.cancelledBy!,
      reason: trip.cancellationReason ?? '',
      feeMinor: (trip.cancellationFeeMinor ?? 0n).toString(),
      currency: trip.currency,
      cancelledAt: iso(trip.cancelledAt),
    });
  },
};

function event<T>(type: string, trip: Trip, data: T) {
  return { type, key: trip.id, data };
}
