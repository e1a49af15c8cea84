import DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import { groupedLoader, keyedLoader } from '../../platform/loaders.ts';
import type { RoutingProvider } from '../../platform/routing.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { Driver } from './entities.ts';
import { pickupEtaLoader, type QuoteReference } from './eta.ts';
import type { LiveLocations } from './live/engine.ts';
import { UNKNOWN_DRIVER, type LiveDriverState } from './live/store.ts';
import { driverTripsByIds, routePoints, type DriverTripRecord, type RoutePointRow } from './records.ts';
import { isUuid } from '../../platform/validation.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';
import { riderTripWithDriver, type TripAssignments } from './followers.ts';

export interface DriversExtras {
  readonly live: LiveLocations;
  /** Driver by its id: entity references and `driver(id)`. */
  readonly driversById: DataLoader<string, Driver | null>;
  /** Driver by accounts User id: `User.driverProfile`. */
  readonly driversByUserId: DataLoader<string, Driver | null>;
  /**
   * Live state (availability, last fix, spoofing flag) by driver id: one store round trip per batch.
   * Never cached: a subscription's context lives as long as the subscription, and state moves.
   */
  readonly liveStates: DataLoader<string, LiveDriverState>;
  /** Profiles loaded through a fresh EntityManager: for long-lived feeds, whose context must not grow. */
  freshDrivers(ids: readonly string[]): Promise<Array<Driver | null>>;
  /** Quote.pickupEtaS: one live lookup per distinct (pickup, vehicle type) of the request. */
  readonly pickupEtas: DataLoader<QuoteReference, number | null, string>;
  /** What drivers knows of a trip (its parties and route window) by trip id: Trip.route and its rule. */
  readonly driverTrips: DataLoader<string, DriverTripRecord | null>;
  /** Trip.route by trip id: one statement for every trip of the request. */
  readonly tripRoutes: DataLoader<string, RoutePointRow[]>;
  /** The trip on which a rider may follow a driver now (followers.ts: drivers' record, else trips). */
  riderTripWithDriver(riderId: string, driverId: string, options?: ServiceRequestOptions): Promise<DriverTripRecord | null>;
}

export type DriversContext = SubgraphContext<DriversExtras>;

export function createDriversExtras(em: EntityManager, live: LiveLocations, fork: () => EntityManager, routing: RoutingProvider, followers: { trips: TripAssignments; logger: Logger }): DriversExtras {
  // One answer per rider and driver per request (the shield rule and the subscribe resolver both ask).
  const asked = new Map<string, Promise<DriverTripRecord | null>>();
  return {
    riderTripWithDriver(riderId, driverId, options) {
      const key = `${riderId}:${driverId}`;
      let answer = asked.get(key);
      if (!answer) asked.set(key, (answer = riderTripWithDriver(em, followers.trips, riderId, driverId, followers.logger, options)));
      return answer;
    },
    live,
    driversById: driversByIdLoader(em),
    driversByUserId: keyedLoader((userIds) => em.find(Driver, { userId: { $in: userIds.filter(isUuid) } }), (driver) => driver.userId),
    liveStates: new DataLoader(
      async (ids) => {
        const states = await live.store.read(ids);
        return ids.map((id) => states.get(id) ?? UNKNOWN_DRIVER);
      },
      { cache: false, maxBatchSize: 500 },
    ),
    freshDrivers: (ids) => driversByIdLoader(fork()).loadMany(ids).then((rows) => rows.map((row) => (row instanceof Error ? null : row))),
    pickupEtas: pickupEtaLoader(live, routing),
    driverTrips: keyedLoader((ids) => driverTripsByIds(em, ids), (record) => record.tripId),
    tripRoutes: groupedLoader((ids) => routePoints(em, ids), (point) => point.tripId),
  };
}

const driversByIdLoader = (em: EntityManager) => keyedLoader((ids) => em.find(Driver, { id: { $in: ids.filter(isUuid) } }), (driver) => driver.id);
