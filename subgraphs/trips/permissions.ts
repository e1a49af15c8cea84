import type { RequestContext } from '../../platform/context.ts';
import { forbidden, unauthenticated } from '../../platform/errors.ts';
import { FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAdmin, isAuthenticated, isService, ownedBy, rule, type IRules } from '../../platform/rules.ts';
import { canSeeTrip, type TripParties } from './policy.ts';

/**
 * Every field of a Trip: its rider, its assigned driver and admins. The rule reads only the parent row
 * already loaded (no SQL), and is not cached: it is cheaper than hashing the parent for a cache key.
 */
const isTripParty = rule('Trip:party', { cache: 'no_cache' })((trip: TripParties, _args, ctx: RequestContext) => {
  if (!ctx.principal) return unauthenticated();
  return canSeeTrip(ctx.principal, trip) ? true : forbidden();
});

const isSelfOrAdmin = ownedBy<{ id: string }>('User', (user) => user.id);

export const permissions: IRules = {
  Query: {
    ...FEDERATION_RULES,
    trip: hasRole('RIDER', 'DRIVER', 'ADMIN', 'PARTNER'),
    myTrips: hasRole('RIDER', 'DRIVER'),
    // The calling organisation's own trips only (partner-booking.ts filters by the token's sub).
    partnerTrips: hasRole('PARTNER'),
    // The calling organisation's own endpoint (partner-webhooks/service.ts reads the token's sub).
    partnerWebhook: hasRole('PARTNER'),
    partnerWebhookDeliveries: isAdmin,
    // Drivers asks, with a service token, whether a rider may follow a driver (drivers/records.ts).
    riderTripWithDriver: isService,
  },
  Mutation: {
    requestTrip: hasRole('RIDER'),
    // Which driver, which trip: decided against the trip's own row by TripLifecycle (FORBIDDEN otherwise).
    acceptTripOffer: hasRole('DRIVER'),
    declineTripOffer: hasRole('DRIVER'),
    markArrived: hasRole('DRIVER'),
    startTrip: hasRole('DRIVER'),
    completeTrip: hasRole('DRIVER'),
    cancelTrip: hasRole('RIDER', 'DRIVER'),
    bookRideForGuest: hasRole('PARTNER'),
    // Which partner: decided against the trip's partner_id by TripLifecycle (FORBIDDEN otherwise).
    cancelPartnerTrip: hasRole('PARTNER'),
    setPartnerWebhook: hasRole('PARTNER'),
    retryPartnerWebhookDelivery: isAdmin,
  },
  // Party checks need the trip: the subscribe resolver refuses others (FORBIDDEN) before any event.
  Subscription: { tripUpdates: hasRole('RIDER', 'DRIVER', 'ADMIN', 'PARTNER'), tripOffers: hasRole('DRIVER') },
  Trip: isTripParty,
  // Reached only through a Trip (guarded above) or the driver's own offer stream.
  TripCancellation: isAuthenticated,
  DriverAssignment: isService,
  TripOffer: isAuthenticated,
  TripConnection: isAuthenticated,
  // Reached only through the fields above (the partner's own endpoint; deliveries for admins).
  PartnerWebhook: isAuthenticated,
  PartnerWebhookDelivery: isAdmin,
  PartnerWebhookDeliveryEdge: isAdmin,
  PartnerWebhookDeliveryConnection: isAdmin,
  TripEdge: isAuthenticated,
  PageInfo: isAuthenticated,
  Money: isAuthenticated,
  GeoPoint: isAuthenticated,
  User: { id: isAuthenticated, trips: isSelfOrAdmin },
  // The resolver answers null unless the caller may see the trip (canSeeTrip: the driver, the rider, admins).
  Driver: { id: isAuthenticated, currentTrip: isAuthenticated },
  Quote: { id: isAuthenticated },
  ...FEDERATION_TYPE_RULES,
};
