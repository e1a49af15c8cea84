import type DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import { keyedLoader } from '../../platform/loaders.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { Quote } from './entities.ts';
import type { PricingService } from './service.ts';

export interface PricingExtras {
  readonly pricing: PricingService;
  /** Stored quotes by their row id (the `quoteId` claim of a signed quote id). */
  readonly quotesById: DataLoader<string, Quote | null>;
}

export type PricingContext = SubgraphContext<PricingExtras>;

export function createPricingExtras(em: EntityManager, pricing: PricingService): PricingExtras {
  return {
    pricing,
    quotesById: keyedLoader((ids) => em.find(Quote, { id: { $in: [...ids] } }), (quote) => quote.id),
  };
}
