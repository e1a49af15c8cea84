import { readSchema } from '../../platform/graphql.ts';
import { loadQuoteSigningSecret } from '../../platform/quote-token.ts';
import { createServiceClient } from '../../platform/service-client.ts';
import type { SubgraphRuntime, SubgraphSetup } from '../../platform/subgraph.ts';
import { createTripsExtras } from './context.ts';
import { httpDriverDirectory, type DriverDirectory } from './dispatch/directory.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { DriverReleases } from './dispatch/releases.ts';
import { entities } from './entities.ts';
import { TripLifecycle } from './lifecycle.ts';
import { TripNotifier } from './live.ts';
import { migrations } from './migrations.ts';
import { PartnerBookings } from './partner-booking.ts';
import { DeliveryWorker, type DeliveryWorkerOptions } from './partner-webhooks/delivery.ts';
import { PartnerWebhookService } from './partner-webhooks/service.ts';
import { httpGuestRiders, httpPartnerFareHolds, type GuestRiders, type PartnerFareHolds } from './partner-payments.ts';
import { httpFareHolds, type FareHolds } from './payments.ts';
import { permissions } from './permissions.ts';
import { createResolvers } from './resolvers.ts';
import { seedDemoTrips } from './seed.ts';
import { TripsService } from './service.ts';

export interface TripsSubgraphOptions {
  /** Where dispatch finds and reserves drivers (default: the drivers subgraph, called as a service). */
  directory?: (runtime: SubgraphRuntime) => DriverDirectory;
  /** Where WALLET trips hold their fare (default: the wallet subgraph, called as a service). */
  fareHolds?: (runtime: SubgraphRuntime) => FareHolds;
  /** Where PARTNER trips hold their fare (default: the wallet subgraph, called as a service). */
  partnerFareHolds?: (runtime: SubgraphRuntime) => PartnerFareHolds;
  /** Where a partner's guests become riders (default: the accounts subgraph, called as a service). */
  guestRiders?: (runtime: SubgraphRuntime) => GuestRiders;
  /** The webhook delivery worker's schedule and bounds (tests: tiny delays); `production` overrides the config's for URL rules. */
  partnerWebhooks?: DeliveryWorkerOptions & { production?: boolean };
}

const running = new WeakMap<SubgraphRuntime, Dispatcher>();
const webhooks = new WeakMap<SubgraphRuntime, { service: PartnerWebhookService; worker: DeliveryWorker }>();

/** The outgoing webhooks of a running trips subgraph (tests call the worker's runOnce here). */
export function partnerWebhooksOf(runtime: SubgraphRuntime): { service: PartnerWebhookService; worker: DeliveryWorker } {
  const found = webhooks.get(runtime);
  if (!found) throw new Error('this runtime does not run the trips subgraph');
  return found;
}

/** The dispatcher of a running trips subgraph (tests drive its loop here). */
export function dispatcherOf(runtime: SubgraphRuntime): Dispatcher {
  const dispatcher = running.get(runtime);
  if (!dispatcher) throw new Error('this runtime does not run the trips subgraph');
  return dispatcher;
}

export function createTripsSubgraph(options: TripsSubgraphOptions = {}): SubgraphSetup {
  return {
    name: 'trips',
    entities,
    migrations,
    async define(runtime) {
      const { config, logger, db, pubsub, events } = runtime;
      const directory = options.directory?.(runtime) ?? httpDriverDirectory(createServiceClient({ caller: 'trips', target: 'drivers', config, logger }));
      // WALLET bookings hold the fare in the wallet first (WALLET_URL), with a service token like dispatch's calls.
      const fareHolds = options.fareHolds?.(runtime) ?? httpFareHolds(createServiceClient({ caller: 'trips', target: 'wallet', config, logger }));
      const notifier = new TripNotifier(pubsub, logger);
      const releases = new DriverReleases(directory, db, logger);
      let dispatcher: Dispatcher | undefined;
      const lifecycle = new TripLifecycle({
        events,
        notifier,
        releases,
        cancellationGraceMs: config.dispatch.cancellationGraceMs,
        onRoundAnswered: (tripId) => dispatcher?.kick(tripId),
      });
      dispatcher = new Dispatcher({ db, directory, lifecycle, notifier, releases, config: config.dispatch, logger });
      const trips = new TripsService({
        quoteSigningSecret: loadQuoteSigningSecret(config, logger),
        events,
        fareHolds,
        logger: logger.child({ component: 'booking' }),
        onRequested: (trip) => dispatcher.kickBooked(trip),
      });
      // Partner bookings: the fare on the partner's account in the wallet, the guest rider in accounts (ACCOUNTS_URL).
      const partnerBookings = new PartnerBookings({
        quoteSigningSecret: loadQuoteSigningSecret(config, logger),
        events,
        fareHolds: options.partnerFareHolds?.(runtime) ?? httpPartnerFareHolds(createServiceClient({ caller: 'trips', target: 'wallet', config, logger })),
        guests: options.guestRiders?.(runtime) ?? httpGuestRiders(createServiceClient({ caller: 'trips', target: 'accounts', config, logger })),
        logger: logger.child({ component: 'partner-booking' }),
        onRequested: (trip) => dispatcher.kickBooked(trip),
      });
      // Outgoing webhooks: trips' own events become deliveries (a consumer), sent by the worker on a timer.
      const partnerWebhooks = new PartnerWebhookService({ production: options.partnerWebhooks?.production ?? config.production });
      partnerWebhooks.consume(events);
      const deliveryWorker = new DeliveryWorker({ ...options.partnerWebhooks, db, repository: partnerWebhooks.repository, logger: logger.child({ component: 'partner-webhooks' }) });
      dispatcher.start();
      deliveryWorker.start();
      running.set(runtime, dispatcher);
      webhooks.set(runtime, { service: partnerWebhooks, worker: deliveryWorker });
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        resolvers: createResolvers(pubsub),
        permissions,
        contextExtras: (em) => createTripsExtras(em, trips, lifecycle, partnerBookings, partnerWebhooks),
        onStopped: [() => dispatcher.stop(), () => deliveryWorker.stop()],
      };
    },
    seedDemo: ({ config, logger, db }, city) => seedDemoTrips(db.fork(), city, loadQuoteSigningSecret(config, logger)),
  };
}

export const tripsSubgraph: SubgraphSetup = createTripsSubgraph();
