import { readSchema } from '../../platform/graphql.ts';
import type { SubgraphRuntime, SubgraphSetup } from '../../platform/subgraph.ts';
import { createDriversExtras } from './context.ts';
import { entities } from './entities.ts';
import { createLiveLocations, type LiveLocations, type LiveLocationsOptions } from './live/engine.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { createResolvers } from './resolvers.ts';
import { seedDemoDrivers } from './seed.ts';

export { transitionDriver } from './availability.ts';
export type { LiveLocations, LiveLocationsOptions };

const running = new WeakMap<SubgraphRuntime, LiveLocations>();

/** The live-location engine of a running drivers subgraph (tests and benchmarks reach its store, sweeper and history here). */
export function liveLocationsOf(runtime: SubgraphRuntime): LiveLocations {
  const live = running.get(runtime);
  if (!live) throw new Error('this runtime does not run the drivers subgraph');
  return live;
}

/** The drivers subgraph; `options` tune live locations in code (tests, benchmarks); production runs the defaults. */
export function createDriversSubgraph(options: LiveLocationsOptions = {}): SubgraphSetup {
  return {
    name: 'drivers',
    entities,
    migrations,
    async define(runtime) {
      const live = createLiveLocations(runtime, options);
      await live.start();
      running.set(runtime, live);
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        resolvers: createResolvers(live),
        permissions,
        contextExtras: (em) => createDriversExtras(em, live, () => runtime.db.fork()),
        onStopped: [() => live.stop()],
      };
    },
    // Demo drivers stay OFFLINE: presence is only ever earned by a live fix (goOnline, then updateLocation).
    seedDemo: ({ db }, city) => seedDemoDrivers(db.fork(), city),
  };
}

export const driversSubgraph: SubgraphSetup = createDriversSubgraph();
