import { readSchema } from '../../platform/graphql.ts';
import { loadQuoteSigningSecret } from '../../platform/quote-token.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createTripsExtras } from './context.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoTrips } from './seed.ts';
import { TripsService } from './service.ts';

export const tripsSubgraph: SubgraphSetup = {
  name: 'trips',
  entities,
  migrations,
  async define({ config, logger }) {
    const trips = new TripsService({ quoteSigningSecret: loadQuoteSigningSecret(config, logger) });
    return {
      typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
      resolvers,
      permissions,
      contextExtras: (em) => createTripsExtras(em, trips),
    };
  },
  seedDemo: ({ config, logger, db }, city) => seedDemoTrips(db.fork(), city, loadQuoteSigningSecret(config, logger)),
};
