import { readSchema } from '../../platform/graphql.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createDriversExtras } from './context.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoDrivers } from './seed.ts';

export const driversSubgraph: SubgraphSetup = {
  name: 'drivers',
  entities,
  migrations,
  async define() {
    return {
      typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
      resolvers,
      permissions,
      contextExtras: (em) => createDriversExtras(em),
    };
  },
  seedDemo: ({ db }, city) => seedDemoDrivers(db.fork(), city),
};
