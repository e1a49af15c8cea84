import { DateTimeScalar } from '../../platform/graphql.ts';
import type { DriversContext } from './context.ts';
import type { Driver } from './entities.ts';
import { approveDriver, pendingDrivers, registerDriver } from './service.ts';

/** Resolvers stay thin: arguments in, domain functions (service.ts) out. Shield has already run. */
export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    driver: (_: unknown, { id }: { id: string }, ctx: DriversContext) => ctx.driversById.load(id),
    pendingDrivers: (_: unknown, args: { first?: number | null; after?: string | null }, ctx: DriversContext) => pendingDrivers(ctx.em, args),
  },
  Mutation: {
    registerDriver: (_: unknown, { vehicle }: { vehicle: unknown }, ctx: DriversContext) => registerDriver(ctx.em, ctx.principal!, vehicle),
    approveDriver: (_: unknown, { driverId }: { driverId: string }, ctx: DriversContext) => approveDriver(ctx.em, ctx.principal!, driverId),
  },
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
  },
  User: {
    driverProfile: (user: { id: string }, _: unknown, ctx: DriversContext) => ctx.driversByUserId.load(user.id),
  },
};
