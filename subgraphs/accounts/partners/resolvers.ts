/** Thin: parse (in the service), call, shape. Spread into accounts' resolvers. */
import type { AccountsContext } from '../context.ts';
import type { Resolvers } from '../generated/resolvers-types.ts';

export const partnersResolvers = {
  Query: {
    partners: (_, __, ctx) => ctx.partners.partners(ctx.em),
    partner: (_, args, ctx) => ctx.partners.partner(ctx.em, args),
  },
  Mutation: {
    createPartner: (_, { input }, ctx) => ctx.partners.createPartner(ctx.em, ctx.principal, input),
    createApiKey: (_, args, ctx) => ctx.partners.createApiKey(ctx.em, ctx.principal, args),
    revokeApiKey: (_, args, ctx) => ctx.partners.revokeApiKey(ctx.em, args),
    rotateApiKey: (_, args, ctx) => ctx.partners.rotateApiKey(ctx.em, ctx.principal, args),
    exchangeApiKey: (_, { key }, ctx) => ctx.partners.exchange(ctx.em, key),
  },
  Partner: {
    apiKeys: (partner, _, ctx) => ctx.partnerKeys.load(partner.id),
  },
} satisfies Pick<Resolvers<AccountsContext>, 'Query' | 'Mutation' | 'Partner'>;
