import { readSchema } from '../../platform/graphql.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createWalletExtras } from './context.ts';
import { entities } from './entities.ts';
import { Ledger } from './ledger/index.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoWallet } from './seed.ts';

export interface WalletSetupOptions {
  /** Most transfers the ledger applies in one transaction (default 1,000). */
  maxBatchSize?: number;
}

/**
 * The wallet: one Ledger per process over the wallet's database (its batcher groups the transfers of
 * concurrent requests), closed after the event consumers stop.
 */
export function createWalletSubgraph(options: WalletSetupOptions = {}): SubgraphSetup {
  return {
    name: 'wallet',
    entities,
    migrations,
    async define({ db, config }) {
      const ledger = new Ledger(db, { driverDebtLimitMinor: config.wallet.driverDebtLimitMinor, maxBatchSize: options.maxBatchSize });
      // The platform's accounts exist before anything moves money (transactions never open one they could roll back).
      for (const kind of ['TRIP_CLEARING', 'PLATFORM_REVENUE', 'PROVIDER_CLEARING'] as const) await ledger.systemAccountId(kind);
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        resolvers,
        permissions,
        contextExtras: (em) => createWalletExtras(em),
        onStopped: [() => ledger.close()],
      };
    },
    seedDemo: ({ db }, city) => seedDemoWallet(db.fork(), city),
  };
}

export const walletSubgraph = createWalletSubgraph();
