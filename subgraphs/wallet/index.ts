import { readSchema } from '../../platform/graphql.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createWalletExtras } from './context.ts';
import { entities } from './entities.ts';
import { Ledger } from './ledger/index.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoWallet } from './seed.ts';
import { WalletService } from './service.ts';
import { Settlement, type SettlementHooks } from './settlement.ts';
import { consumeTripEvents } from './trip-events.ts';

export interface WalletSetupOptions {
  /** Most transfers the ledger applies in one transaction (default 1,000). */
  maxBatchSize?: number;
  /** Test hooks into trip settlement (a leg made to fail once, as a crash between legs would). */
  settlementHooks?: SettlementHooks;
}

/**
 * The wallet: one Ledger per process over the wallet's database (its batcher groups the transfers of
 * concurrent requests), the domain service its fields call, and the settlement of trips' TripCompleted /
 * TripCancelled. The ledger closes after the event consumers stop.
 */
export function createWalletSubgraph(options: WalletSetupOptions = {}): SubgraphSetup {
  return {
    name: 'wallet',
    entities,
    migrations,
    async define(runtime) {
      const { db, config, logger } = runtime;
      const ledger = new Ledger(db, { driverDebtLimitMinor: config.wallet.driverDebtLimitMinor, maxBatchSize: options.maxBatchSize });
      // The platform's accounts exist before anything moves money (transactions never open one they could roll back).
      for (const kind of ['TRIP_CLEARING', 'PLATFORM_REVENUE', 'PROVIDER_CLEARING'] as const) await ledger.systemAccountId(kind);
      const wallet = new WalletService({ ledger, driverDebtLimit: config.wallet.driverDebtLimitMinor, logger });
      consumeTripEvents(runtime, ledger, new Settlement({ logger, hooks: options.settlementHooks }));
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        resolvers,
        permissions,
        contextExtras: () => createWalletExtras(wallet),
        onStopped: [() => ledger.close()],
      };
    },
    /** A ledger of its own over the runtime's database: seeding may run on any running wallet. */
    async seedDemo({ db, config, logger }, city) {
      const ledger = new Ledger(db, { driverDebtLimitMinor: config.wallet.driverDebtLimitMinor });
      try {
        await seedDemoWallet(ledger, new Settlement({ logger }), city);
      } finally {
        await ledger.close();
      }
    },
  };
}

export const walletSubgraph = createWalletSubgraph();
