import { readSchema } from '../../platform/graphql.ts';
import { loadQuoteSigningSecret } from '../../platform/quote-token.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createPricingExtras } from './context.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { createStraightLineRoutingProvider } from '../../platform/routing.ts';
import { seedDemoQuotes } from './seed.ts';
import { PricingService } from './service.ts';

export const pricingSubgraph: SubgraphSetup = {
  name: 'pricing',
  entities,
  migrations,
  async define({ config, logger }) {
    const pricing = new PricingService({
      quoteSigningSecret: loadQuoteSigningSecret(config, logger),
      routing: createStraightLineRoutingProvider(),
    });
    return {
      typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
      resolvers,
      permissions,
      contextExtras: (em) => createPricingExtras(em, pricing),
    };
  },
  seedDemo: ({ db }, city) => seedDemoQuotes(db.fork(), city),
};
