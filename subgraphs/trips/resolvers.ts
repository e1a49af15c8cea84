import { DateTimeScalar } from '../../platform/graphql.ts';
import { callOptionsOf } from '../../platform/service-client.ts';
import { toMoney } from '../../platform/money.ts';
import type { PubSub } from '../../platform/pubsub.ts';
import type { TripsContext } from './context.ts';
import type { Trip } from './entities.ts';
import type { DriverStep } from './lifecycle.ts';
import { followOffers, followTrip } from './live.ts';
import { partnerWebhookResolvers } from './partner-webhooks/resolvers.ts';
import { canSeeTrip } from './policy.ts';

const driverStep = (step: DriverStep) => (_: unknown, args: unknown, ctx: TripsContext) => ctx.lifecycle.driverStep(ctx.em, ctx.principal!, step, args);

export function createResolvers(pubsub: PubSub) {
  return {
    DateTime: DateTimeScalar,
    Query: {
      /** Null for unknown ids, malformed ids and other people's trips alike: existence is not disclosed. */
      trip: async (_: unknown, { id }: { id: string }, ctx: TripsContext): Promise<Trip | null> => {
        const trip = await ctx.tripById.load(id);
        return trip && canSeeTrip(ctx.principal, trip) ? trip : null;
      },
      /** Riders see the trips they took; drivers the trips assigned to them (the shield admits only these roles). */
      myTrips: (_: unknown, args: { first?: number | null; after?: string | null }, ctx: TripsContext) => {
        const { userId, role } = ctx.principal!;
        return ctx.trips.listTrips(ctx.em, role === 'DRIVER' ? { driverUserId: userId } : { riderId: userId }, args);
      },
      partnerTrips: (_: unknown, args: unknown, ctx: TripsContext) => ctx.partnerBookings.listTrips(ctx.em, ctx.principal!, args),
      riderTripWithDriver: async (_: unknown, { riderId, driverId }: { riderId: string; driverId: string }, ctx: TripsContext) => {
        const trip = await ctx.trips.riderTripWithDriver(ctx.em, riderId, driverId);
        return trip && { tripId: trip.id, driverId: trip.driverId!, driverUserId: trip.driverUserId!, riderId: trip.riderId, assignedAt: trip.assignedAt! };
      },
      ...partnerWebhookResolvers.Query,
    },
    Mutation: {
      requestTrip: (_: unknown, args: unknown, ctx: TripsContext) => ctx.trips.requestTrip(ctx.em, ctx.principal!, args, callOptionsOf(ctx)),
      acceptTripOffer: (_: unknown, args: unknown, ctx: TripsContext) => ctx.lifecycle.acceptOffer(ctx.em, ctx.principal!, args),
      declineTripOffer: (_: unknown, args: unknown, ctx: TripsContext) => ctx.lifecycle.declineOffer(ctx.em, ctx.principal!, args),
      markArrived: driverStep('markArrived'),
      startTrip: driverStep('startTrip'),
      completeTrip: driverStep('completeTrip'),
      cancelTrip: (_: unknown, args: unknown, ctx: TripsContext) => ctx.lifecycle.cancel(ctx.em, ctx.principal!, args),
      bookRideForGuest: (_: unknown, args: unknown, ctx: TripsContext) => ctx.partnerBookings.bookRideForGuest(ctx.em, ctx.principal!, args, callOptionsOf(ctx)),
      cancelPartnerTrip: (_: unknown, args: unknown, ctx: TripsContext) => ctx.lifecycle.cancelForPartner(ctx.em, ctx.principal!, args),
      ...partnerWebhookResolvers.Mutation,
    },
    /** `subscribe` only: the shield guards it once, and each event is `{ <field>: value }`. */
    Subscription: {
      tripUpdates: {
        subscribe: (_: unknown, { tripId }: { tripId: string }, ctx: TripsContext) => followTrip(pubsub, ctx.em, ctx.principal, tripId),
      },
      tripOffers: {
        subscribe: (_: unknown, __: unknown, ctx: TripsContext) => followOffers(pubsub, ctx.em, ctx.principal!.userId, () => new Date()),
      },
    },
    Trip: {
      __resolveReference: (reference: { id: string }, ctx: TripsContext): Promise<Trip | null> => ctx.tripById.load(reference.id),
      rider: (trip: Trip) => ({ __typename: 'User', id: trip.riderId }),
      driver: (trip: Trip) => (trip.driverId ? { __typename: 'Driver', id: trip.driverId } : null),
      quote: (trip: Trip) => ({ __typename: 'Quote', id: trip.quoteToken }),
      pickup: (trip: Trip) => ({ lat: trip.pickupLat, lng: trip.pickupLng }),
      dropoff: (trip: Trip) => ({ lat: trip.dropoffLat, lng: trip.dropoffLng }),
      fare: (trip: Trip) => toMoney(trip.fareMinor, trip.currency),
      cancellation: (trip: Trip) =>
        trip.status === 'CANCELLED' && trip.cancelledBy
          ? { by: trip.cancelledBy, reason: trip.cancellationReason ?? '', fee: toMoney(trip.cancellationFeeMinor ?? 0n, trip.currency) }
          : null,
    },
    Driver: {
      /** Null, rather than FORBIDDEN, for anyone who may not see the trip: as `trip(id)`, nothing is disclosed. */
      currentTrip: async (driver: { id: string }, _: unknown, ctx: TripsContext): Promise<Trip | null> => {
        const trip = await ctx.currentTripByDriver.load(driver.id);
        return trip && canSeeTrip(ctx.principal, trip) ? trip : null;
      },
    },
    PartnerWebhookDelivery: partnerWebhookResolvers.PartnerWebhookDelivery,
    User: {
      /** Trips the user took as a rider (the shield admits the user themself and admins). */
      trips: (user: { id: string }, args: { first?: number | null; after?: string | null }, ctx: TripsContext) =>
        ctx.trips.listTrips(ctx.em, { riderId: user.id }, args),
    },
  };
}
