import type { RequestContext } from '../../platform/context.ts';
import { forbidden, unauthenticated } from '../../platform/errors.ts';
import { FEDERATION_RULES, FEDERATION_TYPE_RULES, isAuthenticated, rule, type IRules } from '../../platform/rules.ts';
import type { Payment } from './entities.ts';
import type { WalletView } from './resolvers.ts';

/**
 * A rule over the parent object: admins and the users `partiesOf` names pass. It reads only the parent
 * (no SQL) and is not cached: that is cheaper than hashing the parent for a cache key.
 */
function partiesOnly<TParent>(name: string, partiesOf: (parent: TParent) => Array<string | null | undefined>) {
  return rule(`parties:${name}`, { cache: 'no_cache' })((parent: TParent, _args, ctx: RequestContext) => {
    if (!ctx.principal) return unauthenticated();
    if (ctx.principal.role === 'ADMIN' || partiesOf(parent).includes(ctx.principal.userId)) return true;
    return forbidden();
  });
}

/** A user's wallet: the user themself and admins. */
const isSelfOrAdmin = partiesOnly<{ id: string }>('User', (user) => [user.id]);
const isWalletOwner = partiesOnly<WalletView>('Wallet', (wallet) => [wallet.userId]);
/** A payment: its payer (the rider), its payee (the driver) and admins. */
const isPaymentParty = partiesOnly<Payment>('Payment', (payment) => [payment.payerUserId, payment.payeeUserId]);

export const permissions: IRules = {
  Query: { ...FEDERATION_RULES },
  User: { id: isAuthenticated, wallet: isSelfOrAdmin },
  Wallet: isWalletOwner,
  // Wallet cannot tell whose trip this is; the payment's own fields are guarded by its parties.
  Trip: { id: isAuthenticated, payment: isAuthenticated },
  Payment: isPaymentParty,
  Money: isAuthenticated,
  ...FEDERATION_TYPE_RULES,
};
