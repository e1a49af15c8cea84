import DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import type { QuoteRecord } from './quotes.ts';
import type { PricingService } from './service.ts';

export interface PricingExtras {
  readonly pricing: PricingService;
  /** Stored quotes by their row id (the `quoteId` claim of a signed quote id): one MGET and one SELECT per batch. */
  readonly quotesById: DataLoader<string, QuoteRecord | null>;
}

export type PricingContext = SubgraphContext<PricingExtras>;

export function createPricingExtras(em: EntityManager, pricing: PricingService): PricingExtras {
  return {
    pricing,
    quotesById: new DataLoader((ids) => pricing.store.load(em, ids), { maxBatchSize: 500 }),
  };
}
