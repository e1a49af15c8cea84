import { DateTimeScalar } from '../../platform/graphql.ts';
import type { AccountsContext } from './context.ts';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { Session } from './service.ts';
import { partnersResolvers } from './partners/resolvers.ts';
import { guestRiderResolvers } from './guest-riders.ts';

/** Log-in and sign-up make the new user the caller for the rest of the request (so AuthPayload.user resolves). */
function signedIn(ctx: AccountsContext, session: Session): Session {
  ctx.authenticateAs({ userId: session.user.id, role: session.user.role });
  return session;
}

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    me: (_, __, ctx) => (ctx.principal ? ctx.users.load(ctx.principal.userId) : null),
    ...partnersResolvers.Query,
  },
  Mutation: {
    signUp: async (_, { input }, ctx) => signedIn(ctx, await ctx.accounts.signUp(ctx.em, input)),
    logIn: async (_, { phone, password }, ctx) => signedIn(ctx, await ctx.accounts.logIn(ctx.em, phone, password)),
    refreshSession: async (_, { refreshToken }, ctx) => signedIn(ctx, await ctx.accounts.refresh(ctx.em, refreshToken)),
    logOut: (_, { refreshToken }, ctx) => ctx.accounts.logOut(ctx.em, refreshToken),
    ...partnersResolvers.Mutation,
    ...guestRiderResolvers.Mutation,
  },
  Partner: partnersResolvers.Partner,
  User: {
    __resolveReference: (reference, ctx) => ctx.users.load(reference.id),
  },
};
