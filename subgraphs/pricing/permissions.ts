import { FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAuthenticated, type IRules } from '../../platform/rules.ts';

/**
 * Deny by default. Estimates are for riders (and partners booking for guests, and admins); a quote
 * itself is readable by any signed-in caller holding its id: the signed id is an unguessable capability.
 */
export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, fareEstimates: hasRole('RIDER', 'PARTNER', 'ADMIN') },
  Quote: isAuthenticated,
  FareBreakdown: isAuthenticated,
  Money: isAuthenticated,
  GeoPoint: isAuthenticated,
  ...FEDERATION_TYPE_RULES,
};
