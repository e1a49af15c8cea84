import { FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAuthenticated, type IRules } from '../../platform/rules.ts';

/**
 * Deny by default. Estimates are for riders (and partners booking for guests, and admins); a quote
 * itself is readable by any signed-in caller holding its id: the signed id is an unguessable capability.
 * The surge map is for the people in the city: riders choosing when to ride, drivers where to go, admins.
 */
export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, fareEstimates: hasRole('RIDER', 'PARTNER', 'ADMIN'), surgeMap: hasRole('RIDER', 'DRIVER', 'ADMIN') },
  Quote: isAuthenticated,
  FareBreakdown: isAuthenticated,
  Money: isAuthenticated,
  GeoPoint: isAuthenticated,
  SurgeMap: isAuthenticated,
  SurgeCell: isAuthenticated,
  ...FEDERATION_TYPE_RULES,
};
