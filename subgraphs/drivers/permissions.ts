import { forbidden, unauthenticated } from '../../platform/errors.ts';
import { FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAdmin, isAuthenticated, or, ownedBy, rule, type IRules } from '../../platform/rules.ts';
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
 * HOOK (trips, next issue): a rider may follow the driver of their own active trip. Drivers does not
 * know about trips yet, so nobody passes here; trips will tell drivers who is assigned to whom (an event
 * consumer keeping a rider→driver set), and this rule will read it.
 */
const isRiderOnActiveTripWithDriver = rule('isRiderOnActiveTripWithDriver', { cache: 'strict' })(async (_parent, _args, ctx: DriversContext) =>
  ctx.principal ? forbidden() : unauthenticated(),
);

/**
 * Deny by default. A driver's public profile (who, which car, rating) is for any signed-in caller:
 * riders see the car that picks them up. Approval state and dates, availability and position are the
 * driver's and admins' own; the spoofing flag is for admins only.
 */
export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, driver: isAuthenticated, pendingDrivers: isAdmin, nearbyDrivers: hasRole('RIDER', 'ADMIN', 'PARTNER') },
  Mutation: {
    registerDriver: hasRole('DRIVER'),
    approveDriver: isAdmin,
    goOnline: hasRole('DRIVER'),
    goOffline: hasRole('DRIVER'),
    updateLocation: hasRole('DRIVER'),
    updateLocations: hasRole('DRIVER'),
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
