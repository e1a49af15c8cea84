import { FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAdmin, isAuthenticated, ownedBy, type IRules } from '../../platform/rules.ts';
import type { Driver } from './entities.ts';

/** The driver themself (their accounts User id) or an admin. */
const isTheDriverOrAdmin = ownedBy<Driver>('Driver', (driver) => driver.userId);

/**
 * Deny by default. A driver's public profile (who, which car, rating) is for any signed-in caller:
 * riders see the car that picks them up. Approval state and dates are the driver's and admins' own.
 */
export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, driver: isAuthenticated, pendingDrivers: isAdmin },
  Mutation: { registerDriver: hasRole('DRIVER'), approveDriver: isAdmin },
  Driver: {
    id: isAuthenticated,
    user: isAuthenticated,
    vehicle: isAuthenticated,
    rating: isAuthenticated,
    approvalStatus: isTheDriverOrAdmin,
    approvedAt: isTheDriverOrAdmin,
    createdAt: isTheDriverOrAdmin,
  },
  Vehicle: isAuthenticated,
  User: { id: isAuthenticated, driverProfile: isAuthenticated },
  // Reached only through pendingDrivers (admin); the connection wrappers carry nothing of their own.
  DriverConnection: isAuthenticated,
  DriverEdge: isAuthenticated,
  PageInfo: isAuthenticated,
  ...FEDERATION_TYPE_RULES,
};
