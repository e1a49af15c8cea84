import { DateTimeScalar } from '../../platform/graphql.ts';
import type { PricingContext } from './context.ts';
import type { QuoteView } from './quotes.ts';

/** Resolvers stay thin: the service validates, prices, stores and signs. Shield has already run. */
export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    fareEstimates: (_: unknown, args: unknown, ctx: PricingContext) => ctx.pricing.fareEstimates(ctx.em, ctx.principal!, args),
    surgeMap: (_: unknown, args: unknown, ctx: PricingContext) => ctx.pricing.surgeMap(ctx.em, args),
  },
  Quote: {
    __resolveReference: (reference: { id: string }, ctx: PricingContext): Promise<QuoteView> => ctx.pricing.resolveQuote(reference.id, ctx.quotesById),
  },
};
