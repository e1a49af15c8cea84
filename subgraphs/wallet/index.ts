import { readSchema } from '../../platform/graphql.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createWalletExtras } from './context.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoWallet } from './seed.ts';

export const walletSubgraph: SubgraphSetup = {
  name: 'wallet',
  entities,
  migrations,
  async define() {
    return {
      typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
      resolvers,
      permissions,
      contextExtras: (em) => createWalletExtras(em),
    };
  },
  seedDemo: ({ db }, city) => seedDemoWallet(db.fork(), city),
};
