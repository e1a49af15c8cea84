import { readSchema } from '../../platform/graphql.ts';
import { createStraightLineRoutingProvider, type RoutingProvider } from '../../platform/routing.ts';
import { createServiceClient } from '../../platform/service-client.ts';
import type { SubgraphRuntime, SubgraphSetup } from '../../platform/subgraph.ts';
import { httpCommissionDebts, type CommissionDebts } from './commission.ts';
import { createDriversExtras } from './context.ts';
import { OfferCounts } from './dispatch.ts';
import { entities } from './entities.ts';
import { createLiveLocations, type LiveLocations, type LiveLocationsOptions } from './live/engine.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { createResolvers } from './resolvers.ts';
import { seedDemoDrivers } from './seed.ts';
import { SupplyPublisher } from './supply.ts';
import { TRIP_EVENT_CONTRACTS, TRIP_EVENTS_CONSUMER, TripReactions } from './trip-events.ts';
import { LiveStateRebuild } from './live/rebuild.ts';
import { httpTripAssignments, type TripAssignments } from './followers.ts';

export { transitionDriver } from './availability.ts';
export { takeSupplySnapshot } from './supply.ts';
export type { LiveLocations, LiveLocationsOptions };

export interface DriversSubgraphOptions extends LiveLocationsOptions {
  /** Where pickup ETAs come from (default: the straight-line estimate pricing also uses). */
  routing?: RoutingProvider;
  /** Whether the periodic SupplySnapshot runs (default true; tests call `supplyOf(runtime).publishOnce()`). */
  supplySnapshots?: boolean;
  /** How often the live state's rebuild markers are checked besides reconnects (default 5000 ms); 0 checks only at start and on reconnects. */
  rebuildCheckIntervalMs?: number;
  /** Where goOnline reads a driver's commission debt (default: the wallet subgraph, called as a service). */
  commissionDebts?: (runtime: SubgraphRuntime) => CommissionDebts;
  /** Where drivers asks who is assigned to a rider's trip when its own record lags (default: the trips subgraph, called as a service). */
  tripAssignments?: (runtime: SubgraphRuntime) => TripAssignments;
}

interface RunningDrivers {
  live: LiveLocations;
  supply: SupplyPublisher;
  offerCounts: OfferCounts;
}

const running = new WeakMap<SubgraphRuntime, RunningDrivers>();

function runningOf(runtime: SubgraphRuntime): RunningDrivers {
  const found = running.get(runtime);
  if (!found) throw new Error('this runtime does not run the drivers subgraph');
  return found;
}

/** The live-location engine of a running drivers subgraph (tests and benchmarks reach its store, sweeper and history here). */
export function liveLocationsOf(runtime: SubgraphRuntime): LiveLocations {
  return runningOf(runtime).live;
}

/** The offers-received counter of a running drivers subgraph (tests flush it). */
export function offerCountsOf(runtime: SubgraphRuntime): OfferCounts {
  return runningOf(runtime).offerCounts;
}

/** The supply snapshot publisher of a running drivers subgraph. */
export function supplyOf(runtime: SubgraphRuntime): SupplyPublisher {
  return runningOf(runtime).supply;
}

/** The drivers subgraph; `options` tune it in code (tests, benchmarks); production runs the defaults. */
export function createDriversSubgraph(options: DriversSubgraphOptions = {}): SubgraphSetup {
  return {
    name: 'drivers',
    entities,
    migrations,
    async define(runtime) {
      const logger = runtime.logger.child({ component: 'dispatch-support' });
      const live = createLiveLocations(runtime, options);
      await live.start();
      // With Redis, availability is rebuilt from Postgres whenever Redis lost it (live/rebuild.ts).
      const rebuild = runtime.redis ? new LiveStateRebuild({ redis: runtime.redis, db: runtime.db, live, cooldownMs: runtime.config.drivers.cooldownMs, checkIntervalMs: options.rebuildCheckIntervalMs, logger: runtime.logger.child({ component: 'live-rebuild' }) }) : undefined;
      await rebuild?.start();
      const routing = options.routing ?? createStraightLineRoutingProvider();
      const reactions = new TripReactions({ db: runtime.db, live, cooldownMs: runtime.config.drivers.cooldownMs, logger, rebuild });
      runtime.events.consume({
        name: TRIP_EVENTS_CONSUMER,
        source: 'trips',
        contracts: TRIP_EVENT_CONTRACTS,
        handle: reactions.handle,
        handleMany: reactions.handleMany,
        // A burst of matches is applied in a few reads: a winner is OFFERED (never offered another trip)
        // until it turns BUSY, so a fraction of a second changes nothing a rider sees.
        lingerMs: 100,
      });
      const supply = new SupplyPublisher({ live, events: runtime.events, redis: runtime.redis, intervalMs: runtime.config.drivers.supplySnapshotIntervalMs, logger });
      if (options.supplySnapshots !== false) supply.start();
      const offerCounts = new OfferCounts({ db: runtime.db, logger });
      // goOnline asks the wallet (WALLET_URL) for the driver's commission debt, with a service token.
      const commissionDebts = options.commissionDebts?.(runtime) ?? httpCommissionDebts(createServiceClient({ caller: 'drivers', target: 'wallet', config: runtime.config, logger: runtime.logger }));
      // A rider following their driver right after DRIVER_ASSIGNED: trips is asked (TRIPS_URL) while TripMatched is on its way.
      const tripAssignments = options.tripAssignments?.(runtime) ?? httpTripAssignments(createServiceClient({ caller: 'drivers', target: 'trips', config: runtime.config, logger: runtime.logger }));
      const followers = { trips: tripAssignments, logger: runtime.logger.child({ component: 'followers' }) };
      running.set(runtime, { live, supply, offerCounts });
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        resolvers: createResolvers(live, offerCounts, { debts: commissionDebts, logger: runtime.logger.child({ component: 'commission-gate' }) }),
        permissions,
        contextExtras: (em) => createDriversExtras(em, live, () => runtime.db.fork(), routing, followers),
        onStopped: [
          async () => {
            await rebuild?.stop();
            await reactions.stop();
            await supply.stop();
            await offerCounts.stop();
          },
          () => live.stop(),
        ],
      };
    },
    // Demo drivers stay OFFLINE: presence is only ever earned by a live fix (goOnline, then updateLocation).
    seedDemo: ({ db }, city) => seedDemoDrivers(db.fork(), city),
  };
}

export const driversSubgraph: SubgraphSetup = createDriversSubgraph();
