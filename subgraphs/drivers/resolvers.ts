import { DateTimeScalar } from '../../platform/graphql.ts';
import { callOptionsOf } from '../../platform/service-client.ts';
import type { DriversContext } from './context.ts';
import type { BatchAnswer } from '../../platform/errors.ts';
import { dispatchCandidates, dispatchCandidatesBatch, DispatchProfileCache, releaseOfferedDrivers, reserveDriversForOffer, reserveDriversForOffers, type OfferCounts } from './dispatch.ts';
import type { QuoteReference } from './eta.ts';
import type { RoutePointRow } from './records.ts';
import type { Driver } from './entities.ts';
import type { LiveLocations } from './live/engine.ts';
import { goOffline, goOnline, nearbyDrivers, nearbyQueryOf, updateLocation, updateLocations, type CommissionGate, type NearbyArgs } from './locations.ts';
import { approveDriver, pendingDrivers, registerDriver } from './service.ts';
import { driverLocationView, subscriptionResolvers, type DriverLocationView } from './subscriptions.ts';

/** A refused call of a batch, as DispatchCallError. */
const callErrorOf = (answer: BatchAnswer<unknown>) => (answer.error ? { code: answer.error.code, message: answer.error.message } : null);

/** Resolvers stay thin: arguments in, domain functions (service.ts, locations.ts) out. Shield has already run. */
export function createResolvers(live: LiveLocations, offerCounts: OfferCounts, commission: CommissionGate) {
  const profiles = new DispatchProfileCache(() => live.now());
  return {
    DateTime: DateTimeScalar,
    Query: {
      driver: (_: unknown, { id }: { id: string }, ctx: DriversContext) => ctx.driversById.load(id),
      pendingDrivers: (_: unknown, args: { first?: number | null; after?: string | null }, ctx: DriversContext) => pendingDrivers(ctx.em, args),
      nearbyDrivers: (_: unknown, args: NearbyArgs, ctx: DriversContext) => nearbyDrivers(live, (ids) => ctx.driversById.loadMany(ids), nearbyQueryOf(args)),
      dispatchCandidates: (_: unknown, args: unknown, ctx: DriversContext) => dispatchCandidates(live, ctx.em, args, profiles.lookup),
      dispatchCandidatesBatch: async (_: unknown, args: unknown, ctx: DriversContext) =>
        (await dispatchCandidatesBatch(live, ctx.em, args, profiles.lookup)).map((answer) => ({ candidates: answer.value ?? null, error: callErrorOf(answer) })),
    },
    Mutation: {
      registerDriver: (_: unknown, { vehicle }: { vehicle: unknown }, ctx: DriversContext) => registerDriver(ctx.em, ctx.principal!, vehicle),
      approveDriver: (_: unknown, { driverId }: { driverId: string }, ctx: DriversContext) => approveDriver(ctx.em, ctx.principal!, driverId),
      goOnline: (_: unknown, __: unknown, ctx: DriversContext) => goOnline(ctx.em, live, ctx.principal!, commission, callOptionsOf(ctx)),
      goOffline: (_: unknown, __: unknown, ctx: DriversContext) => goOffline(ctx.em, live, ctx.principal!),
      updateLocation: (_: unknown, { input }: { input: unknown }, ctx: DriversContext) => updateLocation(live, ctx.principal!, input),
      updateLocations: (_: unknown, { batch }: { batch: unknown }, ctx: DriversContext) => updateLocations(live, ctx.principal!, batch),
      reserveDriversForOffer: (_: unknown, args: { tripId: unknown; driverIds: unknown; atMost?: unknown }, ctx: DriversContext) => reserveDriversForOffer(live, offerCounts, args),
      reserveDriversForOffers: async (_: unknown, args: unknown) =>
        (await reserveDriversForOffers(live, offerCounts, args)).map((answer) => ({ tripId: answer.tripId, reserved: answer.value ?? null, error: callErrorOf(answer) })),
      releaseOfferedDrivers: (_: unknown, args: { tripId: unknown; driverIds: unknown }) => releaseOfferedDrivers(live, args),
    },
    Subscription: subscriptionResolvers(live),
    Driver: {
      __resolveReference: (reference: { id: string }, ctx: DriversContext): Promise<Driver | null> => ctx.driversById.load(reference.id),
      user: (driver: Driver) => ({ __typename: 'User', id: driver.userId }),
      vehicle: (driver: Driver) => ({
        type: driver.vehicleType,
        make: driver.vehicleMake,
        model: driver.vehicleModel,
        color: driver.vehicleColor,
        plate: driver.vehiclePlate,
        year: driver.vehicleYear,
      }),
      availability: async (driver: Driver, _: unknown, ctx: DriversContext) => (await ctx.liveStates.load(driver.id)).availability,
      lastLocation: async (driver: Driver, _: unknown, ctx: DriversContext) => {
        const { fix } = await ctx.liveStates.load(driver.id);
        return fix ? driverLocationView(driver.id, fix) : null;
      },
      suspectedSpoofing: async (driver: Driver, _: unknown, ctx: DriversContext) =>
        driver.suspectedSpoofingAt != null || (await ctx.liveStates.load(driver.id)).spoofingSince !== null,
    },
    DriverLocation: {
      driver: (location: DriverLocationView, _: unknown, ctx: DriversContext) => ctx.driversById.load(location.driverId),
    },
    User: {
      driverProfile: (user: { id: string }, _: unknown, ctx: DriversContext) => ctx.driversByUserId.load(user.id),
    },
    Quote: {
      // The router sends the @requires fields with the key; nothing to load.
      __resolveReference: (reference: QuoteReference) => reference,
      pickupEtaS: (quote: QuoteReference, _: unknown, ctx: DriversContext) => ctx.pickupEtas.load(quote),
    },
    Trip: {
      __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
      route: (trip: { id: string }, _: unknown, ctx: DriversContext) => ctx.tripRoutes.load(trip.id),
    },
    RoutePoint: {
      location: (point: RoutePointRow) => ({ lat: point.lat, lng: point.lng }),
    },
  };
}
