import type { Principal } from '../../platform/auth.ts';

/** The parts of a trip its visibility depends on. */
export interface TripParties {
  riderId: string;
  driverUserId?: string | null;
  /** The partner organisation that booked it for its guest (PARTNER trips). */
  partnerId?: string | null;
}

/**
 * Trips shown to a driver inside an offer (tripOffers), by the accounts user id of that driver. Only the
 * objects a subscription built for that offer are in here, so the grant ends with the event.
 */
const offeredTo = new WeakMap<object, string>();

/** Lets `driverUserId` see this one trip object: the trip they are being offered. */
export function grantOfferView<T extends object>(trip: T, driverUserId: string): T {
  offeredTo.set(trip, driverUserId);
  return trip;
}

/**
 * Who may see a trip: its rider, its assigned driver (by accounts user id), the partner organisation
 * that booked it (PARTNER token, `sub` = the organisation) and admins, plus a driver
 * reading the offer they were sent. Nobody else, not even to learn that it exists: `trip(id)` answers
 * null for other people's trips, exactly as for unknown ids. The shield rule on every `Trip` field and
 * the `trip` query both use this one predicate.
 */
export function canSeeTrip(principal: Principal | undefined, trip: TripParties): boolean {
  if (!principal) return false;
  if (principal.role === 'ADMIN') return true;
  if (trip.riderId === principal.userId || (!!trip.driverUserId && trip.driverUserId === principal.userId)) return true;
  // A partner organisation sees the trips it booked for its guests, and no other.
  if (principal.role === 'PARTNER') return !!trip.partnerId && trip.partnerId === principal.userId;
  return offeredTo.get(trip) === principal.userId;
}
