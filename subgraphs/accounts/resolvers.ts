import { DateTimeScalar } from '../../platform/graphql.ts';
import type { AccountsContext } from './context.ts';
import type { User } from './entities.ts';
import type { Session } from './service.ts';

/** Log-in and sign-up make the new user the caller for the rest of the request (so AuthPayload.user resolves). */
function signedIn(ctx: AccountsContext, session: Session): Session {
  ctx.authenticateAs({ userId: session.user.id, role: session.user.role });
  return session;
}

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    me: (_: unknown, __: unknown, ctx: AccountsContext) => (ctx.principal ? ctx.users.load(ctx.principal.userId) : null),
  },
  Mutation: {
    signUp: async (_: unknown, { input }: { input: unknown }, ctx: AccountsContext) => signedIn(ctx, await ctx.accounts.signUp(ctx.em, input)),
    logIn: async (_: unknown, args: { phone: string; password: string }, ctx: AccountsContext) =>
      signedIn(ctx, await ctx.accounts.logIn(ctx.em, args.phone, args.password)),
    refreshSession: async (_: unknown, args: { refreshToken: string }, ctx: AccountsContext) =>
      signedIn(ctx, await ctx.accounts.refresh(ctx.em, args.refreshToken)),
    logOut: (_: unknown, args: { refreshToken: string }, ctx: AccountsContext) => ctx.accounts.logOut(ctx.em, args.refreshToken),
  },
  User: {
    __resolveReference: (reference: { id: string }, ctx: AccountsContext): Promise<User | null> => ctx.users.load(reference.id),
  },
};
