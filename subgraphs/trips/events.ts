import { TripCancelled, TripCompleted, TripDriverArrived, TripMatched, TripRequested, TripStarted } from '../../platform/events/contracts/index.ts';
import type { AnyEventContract, EventBus, EventData, NewEvent, OutboxSelect } from '../../platform/events/index.ts';
import type { Trip } from './entities.ts';

/**
 * The part of the event bus (platform/events) trips writes with: the outbox, inside the caller's
 * transaction, or as a `with` clause of the one statement that makes the change.
 */
export type EventRecorder = Pick<EventBus, 'record' | 'outboxInsert' | 'outboxInsertSelect'>;

/** fare × bps / 10 000, rounded half-up to the minor unit (exact: integers only). */
export function commissionMinor(fareMinor: bigint, commissionBps: number): bigint {
  return (fareMinor * BigInt(commissionBps) + 5_000n) / 10_000n;
}

const iso = (date: Date | null | undefined) => (date ?? new Date()).toISOString();

/**
 * TripMatched, computed by acceptOffer's one statement from the assigned trip row `alias`; `matchedAt`
 * is the time it writes to assigned_at. The contract's field list makes the jsonb: a field it gains
 * fails to compile here until the statement provides it.
 */
export function matchedEvent(alias: string, matchedAt: Date): OutboxSelect<typeof TripMatched> {
  return {
    contract: TripMatched,
    from: alias,
    key: `${alias}."id"::text`,
    fields: {
      tripId: `${alias}."id"`,
      riderId: `${alias}."rider_id"`,
      driverId: `${alias}."driver_id"`,
      driverUserId: `${alias}."driver_user_id"`,
      vehicleType: `${alias}."vehicle_type"`,
      matchedAt: { sql: '?::text', params: [matchedAt.toISOString()] },
    },
  };
}

/** The events of the trip lifecycle, built from the row as the transition left it, each keyed by trip id. */
export const tripEvents = {
  requested(trip: Trip) {
    return event(TripRequested, trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      quoteId: trip.quoteId,
      quoteToken: trip.quoteToken,
      vehicleType: trip.vehicleType,
      pickup: { lat: trip.pickupLat, lng: trip.pickupLng },
      dropoff: { lat: trip.dropoffLat, lng: trip.dropoffLng },
      fareMinor: trip.fareMinor.toString(),
      currency: trip.currency,
      paymentMethod: trip.paymentMethod,
      requestedAt: iso(trip.requestedAt),
      ...partnerOf(trip),
    });
  },
  arrived(trip: Trip) {
    return event(TripDriverArrived, trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId!,
      driverUserId: trip.driverUserId!,
      arrivedAt: iso(trip.arrivedAt),
    });
  },
  started(trip: Trip) {
    return event(TripStarted, trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId!,
      driverUserId: trip.driverUserId!,
      startedAt: iso(trip.startedAt),
    });
  },
  completed(trip: Trip) {
    return event(TripCompleted, trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId!,
      driverUserId: trip.driverUserId!,
      fareMinor: trip.fareMinor.toString(),
      commissionMinor: commissionMinor(BigInt(trip.fareMinor), trip.commissionBps).toString(),
      currency: trip.currency,
      paymentMethod: trip.paymentMethod,
      completedAt: iso(trip.completedAt),
      ...partnerOf(trip),
    });
  },
  cancelled(trip: Trip) {
    return event(TripCancelled, trip, {
      tripId: trip.id,
      riderId: trip.riderId,
      driverId: trip.driverId ?? null,
      driverUserId: trip.driverUserId ?? null,
      cancelledBy: trip.cancelledBy!,
      reason: trip.cancellationReason ?? '',
      feeMinor: (trip.cancellationFeeMinor ?? 0n).toString(),
      currency: trip.currency,
      cancelledAt: iso(trip.cancelledAt),
      // A partner's trip says how it is paid and by whom; a rider's trip's event stays as it was.
      ...(trip.partnerId ? { paymentMethod: trip.paymentMethod, partnerId: trip.partnerId } : {}),
    });
  },
};

/** `partnerId` on a partner's trip only: a rider's trip's events stay as they were. */
const partnerOf = (trip: Trip) => (trip.partnerId ? { partnerId: trip.partnerId } : {});

function event<C extends AnyEventContract>(contract: C, trip: Trip, data: EventData<C>): NewEvent<C> {
  return { contract, key: trip.id, data };
}
