import type { Principal } from '../../platform/auth.ts';

/** The parts of a trip its visibility depends on. */
export interface TripParties {
  riderId: string;
  driverUserId?: string | null;
}

/**
 * Who may see a trip: its rider, its assigned driver (by accounts user id) and admins. Nobody else,
 * not even to learn that it exists: `trip(id)` answers null for other people's trips, exactly as for
 * unknown ids. The shield rule on every `Trip` field and the `trip` query both use this one predicate.
 */
export function canSeeTrip(principal: Principal | undefined, trip: TripParties): boolean {
  if (!principal) return false;
  if (principal.role === 'ADMIN') return true;
  return trip.riderId === principal.userId || (!!trip.driverUserId && trip.driverUserId === principal.userId);
}
