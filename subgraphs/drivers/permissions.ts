import { forbidden, unauthenticated } from '../../platform/errors.ts';
import { callOptionsOf } from '../../platform/service-client.ts';
import { allow, FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAdmin, isAuthenticated, isService, or, ownedBy, rule, type IRules } from '../../platform/rules.ts';
import type { DriversContext } from './context.ts';
import type { Driver } from './entities.ts';

/** The driver themself (their accounts User id) or an admin. */
const isTheDriverOrAdmin = ownedBy<Driver>('Driver', (driver) => driver.userId);

/** driverLocation(driverId): the caller is that driver. */
const isTheFollowedDriver = rule('isTheFollowedDriver', { cache: 'strict' })(async (_parent, { driverId }: { driverId: string }, ctx: DriversContext) => {
  if (!ctx.principal) return unauthenticated();
  const driver = await ctx.driversById.load(driverId);
  return driver !== null && driver.userId === ctx.principal.userId ? true : forbidden();
});

/**
 * driverLocation(driverId): the caller is the rider of an active trip with that driver, from TripMatched
 * until TripCompleted or TripCancelled (driver_trips, kept from trips' events by trip-events.ts).
 * Checked when the subscription starts; the stream itself ends when the trip does (subscriptions.ts).
 */
const isRiderOnActiveTripWithDriver = rule('isRiderOnActiveTripWithDriver', { cache: 'strict' })(async (_parent, { driverId }: { driverId: string }, ctx: DriversContext) => {
  if (!ctx.principal) return unauthenticated();
  return (await ctx.riderTripWithDriver(ctx.principal.userId, driverId, callOptionsOf(ctx))) ? true : forbidden();
});

/**
 * Trip.route: the trip's rider, its driver, admins. Drivers knows the parties from TripMatched on;
 * before that there is no driver, so no route (an empty list) and nothing to protect.
 */
const isPartyToTripOrAdmin = rule('isPartyToTripOrAdmin', { cache: 'strict' })(async (trip: { id: string }, _args, ctx: DriversContext) => {
  if (!ctx.principal) return unauthenticated();
  if (ctx.principal.role === 'ADMIN') return true;
  const record = await ctx.driverTrips.load(trip.id);
  if (!record) return true;
  return record.riderId === ctx.principal.userId || record.driverUserId === ctx.principal.userId ? true : forbidden();
});

/**
 * Deny by default. A driver's public profile (who, which car, rating) is for any signed-in caller:
 * riders see the car that picks them up. Approval state and dates, availability and position are the
 * driver's and admins' own; the spoofing flag is for admins only.
 */
export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, driver: isAuthenticated, pendingDrivers: isAdmin, nearbyDrivers: hasRole('RIDER', 'ADMIN', 'PARTNER'), dispatchCandidates: isService, dispatchCandidatesBatch: isService },
  Mutation: {
    registerDriver: hasRole('DRIVER'),
    approveDriver: isAdmin,
    goOnline: hasRole('DRIVER'),
    goOffline: hasRole('DRIVER'),
    updateLocation: hasRole('DRIVER'),
    updateLocations: hasRole('DRIVER'),
    reserveDriversForOffer: isService,
    reserveDriversForOffers: isService,
    releaseOfferedDrivers: isService,
  },
  Subscription: {
    driverLocation: or(isAdmin, isTheFollowedDriver, isRiderOnActiveTripWithDriver),
    nearbyDriversUpdates: hasRole('RIDER', 'ADMIN'),
  },
  Driver: {
    id: isAuthenticated,
    user: isAuthenticated,
    vehicle: isAuthenticated,
    rating: isAuthenticated,
    approvalStatus: isTheDriverOrAdmin,
    approvedAt: isTheDriverOrAdmin,
    createdAt: isTheDriverOrAdmin,
    availability: isTheDriverOrAdmin,
    lastLocation: isTheDriverOrAdmin,
    suspectedSpoofing: isAdmin,
  },
  Vehicle: isAuthenticated,
  // Reached only through dispatchCandidates and the batch fields (SERVICE, @inaccessible); read in bulk, so no rule per field.
  DispatchCandidate: allow,
  DispatchCandidatesResult: allow,
  OfferReservationResult: allow,
  DispatchCallError: allow,
  // Same audience as the quote itself (pricing: any signed-in caller).
  Quote: { id: isAuthenticated, pickupEtaS: isAuthenticated },
  Trip: { id: isAuthenticated, route: isPartyToTripOrAdmin },
  RoutePoint: isAuthenticated,
  User: { id: isAuthenticated, driverProfile: isAuthenticated },
  // Reached only through pendingDrivers (admin); the connection wrappers carry nothing of their own.
  DriverConnection: isAuthenticated,
  DriverEdge: isAuthenticated,
  PageInfo: isAuthenticated,
  // Reached only through fields guarded above.
  DriverLocation: isAuthenticated,
  GeoPoint: isAuthenticated,
  NearbyDriver: isAuthenticated,
  NearbyDriversSnapshot: isAuthenticated,
  LocationUpdateResult: isAuthenticated,
  LocationBatchResult: isAuthenticated,
  ...FEDERATION_TYPE_RULES,
};
