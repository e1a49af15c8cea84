import type { RequestContext } from '../../../platform/context.ts';
import { forbidden, unauthenticated } from '../../../platform/errors.ts';
import { isAdmin, rule, type IRules } from '../../../platform/rules.ts';

/** The router itself, calling with its service token (platform/service-auth.ts): no subgraph, no user. */
export const isRouter = rule('isRouter', { cache: 'contextual' })((_parent, _args, ctx: RequestContext) => {
  if (!ctx.principal) return unauthenticated();
  return ctx.principal.role === 'SERVICE' && ctx.principal.service === 'router' ? true : forbidden();
});

/** Partners and keys are for admins; the exchange for the router alone. Spread into accounts' rules. */
export const partnersPermissions = {
  Query: { partners: isAdmin, partner: isAdmin },
  Mutation: { createPartner: isAdmin, createApiKey: isAdmin, revokeApiKey: isAdmin, rotateApiKey: isAdmin, exchangeApiKey: isRouter },
  types: { Partner: isAdmin, ApiKey: isAdmin, CreatedApiKey: isAdmin, ApiKeyGrant: isRouter },
} satisfies { Query: IRules; Mutation: IRules; types: IRules };
