import { readSchema } from '../../platform/graphql.ts';
import { loadOrCreateSecret } from '../../platform/secrets.ts';
import type { SubgraphRuntime, SubgraphSetup } from '../../platform/subgraph.ts';
import { createWalletExtras } from './context.ts';
import { entities } from './entities.ts';
import { FraudWatch } from './fraud.ts';
import { Ledger } from './ledger/index.ts';
import { maintenanceMigrations } from './maintenance-migrations.ts';
import { startWalletMaintenance } from './maintenance.ts';
import { migrations } from './migrations.ts';
import { PaymentsRepository } from './payments/payments-repository.ts';
import { PaymentsService } from './payments/payments-service.ts';
import type { PaymentProvider } from './payments/provider.ts';
import { SandboxPaymentProvider } from './payments/sandbox-provider.ts';
import { PAYMENT_WEBHOOK_PATH, paymentWebhookRoute } from './payments/webhook-route.ts';
import { PartnerBilling, partnerBillingPermissions, partnerBillingResolvers } from './partner-billing.ts';
import { Reconciliation } from './reconciliation.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoWallet } from './seed.ts';
import { WalletService } from './service.ts';
import { Settlement, type SettlementHooks } from './settlement.ts';
import { consumeTripBookings } from './trip-bookings.ts';
import { consumeTripEvents } from './trip-events.ts';

export interface WalletSetupOptions {
  /** Most transfers the ledger applies in one transaction (default 1,000). */
  maxBatchSize?: number;
  /** Test hooks into trip settlement (a leg made to fail once, as a crash between legs would). */
  settlementHooks?: SettlementHooks;
  /** The payment provider, instead of the one config.wallet.paymentProvider names (tests: a sandbox of their own). */
  paymentProvider?: (runtime: SubgraphRuntime) => PaymentProvider | null;
  /** The clock of fraud rules and reconciliation (tests). */
  now?: () => Date;
}

/**
 * The provider config names: the sandbox (development, tests), signing with the webhook secret and
 * delivering to PAYMENT_WEBHOOK_URL or else this wallet's own address, read at each delivery (in embedded
 * mode and tests the wallet learns it only once listening); or none.
 */
export function configuredPaymentProvider({ config, logger }: Pick<SubgraphRuntime, 'config' | 'logger'>): PaymentProvider | null {
  const { wallet } = config;
  if (wallet.paymentProvider === 'none') return null;
  const secret = loadOrCreateSecret(config, logger, { value: wallet.paymentWebhookSecret, variable: 'PAYMENT_WEBHOOK_SECRET', file: 'payment-webhook-secret', description: 'payment webhook secret' });
  return new SandboxPaymentProvider({
    secret,
    publicUrl: wallet.publicUrl,
    webhookUrl: () => wallet.paymentWebhookUrl ?? new URL(PAYMENT_WEBHOOK_PATH, config.subgraphUrls.wallet ?? wallet.publicUrl).toString(),
    logger: logger.child({ component: 'sandbox-payment-provider' }),
  });
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
    // The trip bookings' table comes with its consumer (consumeTripBookings below).
    migrations: [...migrations, ...maintenanceMigrations],
    async define(runtime) {
      const { db, config, logger } = runtime;
      const ledger = new Ledger(db, { driverDebtLimitMinor: config.wallet.driverDebtLimitMinor, maxBatchSize: options.maxBatchSize });
      // The platform's accounts exist before anything moves money (transactions never open one they could roll back).
      for (const kind of ['TRIP_CLEARING', 'PLATFORM_REVENUE', 'PROVIDER_CLEARING'] as const) await ledger.systemAccountId(kind);
      const wallet = new WalletService({ ledger, driverDebtLimit: config.wallet.driverDebtLimitMinor, orphanHoldGraceMs: config.wallet.orphanHoldGraceMs, logger });
      consumeTripEvents(runtime, ledger, new Settlement({ logger, hooks: options.settlementHooks }));
      consumeTripBookings(runtime);
      const maintenance = startWalletMaintenance(
        { ledger, db, logger: logger.child({ component: 'wallet-maintenance' }) },
        { intervalMs: config.wallet.maintenanceIntervalMs, orphanHoldGraceMs: config.wallet.orphanHoldGraceMs },
      );
      const repository = new PaymentsRepository(db);
      const provider = options.paymentProvider ? options.paymentProvider(runtime) : configuredPaymentProvider(runtime);
      const fraud = new FraudWatch({ repository, rules: config.wallet.fraud, logger, now: options.now });
      const payments = new PaymentsService({ ledger, repository, provider, fraud, logger });
      const services = { wallet, payments, fraud, reconciliation: new Reconciliation({ ledger, repository, now: options.now }) };
      const partners = partnerBillingResolvers(new PartnerBilling(ledger));
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        // Partner billing's fields (partner-billing.ts) beside the rest.
        resolvers: { ...resolvers, ...partners, Query: { ...resolvers.Query, ...partners.Query }, Mutation: { ...resolvers.Mutation, ...partners.Mutation } },
        permissions: {
          ...permissions,
          ...partnerBillingPermissions.types,
          Query: { ...((permissions as Record<string, object>).Query), ...partnerBillingPermissions.Query },
          Mutation: { ...((permissions as Record<string, object>).Mutation), ...partnerBillingPermissions.Mutation },
        },
        contextExtras: () => createWalletExtras(services),
        routes: { [PAYMENT_WEBHOOK_PATH]: paymentWebhookRoute(payments, logger), ...provider?.routes },
        // The provider's deliveries end before the ledger they credit closes.
        onStopped: [() => maintenance.stop(), async () => provider?.close(), () => ledger.close()],
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
