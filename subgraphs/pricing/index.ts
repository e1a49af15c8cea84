import type { EntityManager } from '../../platform/db.ts';
import { SupplySnapshot, TripRequested } from '../../platform/events/contracts/index.ts';
import type { EventOf } from '../../platform/events/index.ts';
import { redisNamespace } from '../../platform/redis.ts';
import { readSchema } from '../../platform/graphql.ts';
import { loadQuoteSigningSecret } from '../../platform/quote-token.ts';
import { createStraightLineRoutingProvider, type RoutingProvider } from '../../platform/routing.ts';
import type { SubgraphRuntime, SubgraphSetup } from '../../platform/subgraph.ts';
import { createPricingExtras } from './context.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { permissions } from './permissions.ts';
import { PriceBookCache } from './price-lists.ts';
import { PostgresQuoteStore, RedisQuoteStore } from './quote-store.ts';
import { resolvers } from './resolvers.ts';
import { seedDemoQuotes } from './seed.ts';
import { PricingService } from './service.ts';
import { SurgeEngine, supplyFreshnessMs } from './surge-engine.ts';

/**
 * A Redis quote outlives its validity by this much, so a quote booked in its last second is still
 * there when pricing consumes the TripRequested (and copies it to Postgres), even behind a backlog.
 */
export const QUOTE_REDIS_GRACE_SECONDS = 30 * 60;

export interface PricingSetupOptions {
  /** The clock of prices, time-of-day windows and surge (tests drive it). */
  now?: () => Date;
  routing?: RoutingProvider;
}

/** Where this deployment keeps its quotes: Redis when configured (tests reach a quote's key through it), else Postgres. */
export function quoteStoreFor(runtime: Pick<SubgraphRuntime, 'config' | 'redis' | 'logger'>): RedisQuoteStore | PostgresQuoteStore {
  const { config, redis, logger } = runtime;
  if (!redis) return new PostgresQuoteStore();
  return new RedisQuoteStore({ redis, prefix: `smartline:pricing:${redisNamespace(config)}:`, ttlSeconds: config.pricing.quoteTtlSeconds + QUOTE_REDIS_GRACE_SECONDS, logger });
}

/** Consumers of other subgraphs' events: trip requests (demand, booked quotes) and driver supply. */
function consumeEvents(runtime: SubgraphRuntime, surge: SurgeEngine, pricing: PricingService) {
  const { events, logger } = runtime;
  // A trip request is demand in its pickup's cell, and its quote is kept for good (a burst of bookings:
  // one statement each for all the requests of one read). The quote comes from Redis, else Postgres,
  // else the signed token the event carries (Redis lost it before this booking was kept).
  const applyTripRequests = async (batch: Array<EventOf<typeof TripRequested>>, em: EntityManager) => {
    const requests = batch.map((event) => event.data);
    await surge.recordTripsRequested(em, requests);
    const bookings = requests.map((request) => {
      const quote = request.quoteToken ? pricing.quoteOfToken(request.quoteToken) : null;
      return { quoteId: request.quoteId, tripId: request.tripId, bookedAt: new Date(request.requestedAt), quote: quote?.id === request.quoteId ? quote : null };
    });
    for (const lost of await pricing.store.book(em, bookings)) {
      logger.error({ quoteId: lost.quoteId, tripId: lost.tripId }, 'a booked quote was lost before it could be kept and its id does not carry it whole; Trip.quote will be an error');
    }
  };
  events.consume({
    name: 'trip-requests',
    source: 'trips',
    contracts: [TripRequested],
    handle: (event, em) => applyTripRequests([event], em),
    handleMany: applyTripRequests,
    // Demand counts for the next surge tick (a minute away) and a quote kept for good (it stays in Redis
    // for half an hour past its validity): no hurry. A burst of bookings is applied in a few reads.
    lingerMs: 1_000,
  });
  events.consume({
    name: 'supply-snapshots',
    source: 'drivers',
    contracts: [SupplySnapshot],
    async handle(event, em) {
      if (!(await surge.recordSupplySnapshot(em, event.data))) logger.error({ eventId: event.id, resolution: event.data.resolution }, 'ignoring a SupplySnapshot of cells surge does not use');
    },
  });
}

export function createPricingSubgraph(options: PricingSetupOptions = {}): SubgraphSetup {
  return {
    name: 'pricing',
    entities,
    migrations,
    async define(runtime) {
      const { config, logger, db } = runtime;
      const now = options.now ?? (() => new Date());
      const store = quoteStoreFor(runtime);
      const surge = new SurgeEngine({ db, logger, intervalMs: config.pricing.surgeIntervalMs, supplySnapshotIntervalMs: config.drivers.supplySnapshotIntervalMs, now });
      const pricing = new PricingService({
        quoteSigningSecret: loadQuoteSigningSecret(config, logger),
        routing: options.routing ?? createStraightLineRoutingProvider({ timeZone: config.cityTimeZone, now }),
        store,
        priceBook: new PriceBookCache({ db, now: () => now().getTime() }),
        timeZone: config.cityTimeZone,
        quoteTtlSeconds: config.pricing.quoteTtlSeconds,
        supplyFreshMs: supplyFreshnessMs(config.drivers.supplySnapshotIntervalMs),
        now,
      });
      consumeEvents(runtime, surge, pricing);
      surge.start();
      return {
        typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
        resolvers,
        permissions,
        contextExtras: (em) => createPricingExtras(em, pricing),
        onStopped: [() => surge.stop()],
      };
    },
    seedDemo: ({ db }, city) => seedDemoQuotes(db.fork(), city),
  };
}

export const pricingSubgraph: SubgraphSetup = createPricingSubgraph();
