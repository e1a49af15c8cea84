import type { RequestContext } from '../../platform/context.ts';
import { forbidden, unauthenticated } from '../../platform/errors.ts';
import { FEDERATION_RULES, FEDERATION_TYPE_RULES, hasRole, isAdmin, isAuthenticated, isService, rule, type IRules } from '../../platform/rules.ts';
import type { DriverReference, WalletView } from './service.ts';
import type { PaymentView } from './trip-ledger.ts';

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
const isWalletOwner = partiesOnly<WalletView>('Wallet', (wallet) => [wallet.ownerId]);
/**
 * A driver's earnings: the driver themself (the user id drivers gives through @requires) and admins. A
 * representation sent to this subgraph directly can only name the caller's own earnings.
 */
const isTheDriver = partiesOnly<DriverReference>('Driver', (driver) => [driver.user?.id]);
/** A payment: its rider (whose wallet paid, or the trip's rider as trips gives it), its driver, admins. */
const isPaymentParty = partiesOnly<PaymentView>('Payment', (payment) => [payment.riderUserId, payment.driverUserId]);

/**
 * Deny by default. Money is for its owners and admins; the service-only fields (@inaccessible, absent
 * from the router's API) for other subgraphs calling with a service token; refunds for admins.
 */
export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, driverCommissionDebt: isService, withdrawals: isAdmin, fraudFlags: isAdmin, reconciliationReport: isAdmin },
  Mutation: {
    holdTripFare: isService,
    holdTripFares: isService,
    releaseTripFare: isService,
    refundTrip: isAdmin,
    // Money in: riders and drivers, into their own wallet. Money out: drivers (their earnings).
    startDeposit: hasRole('RIDER', 'DRIVER'),
    requestWithdrawal: hasRole('DRIVER'),
    approveWithdrawal: isAdmin,
    rejectWithdrawal: isAdmin,
    clearFraudFlag: isAdmin,
  },
  User: { id: isAuthenticated, wallet: isSelfOrAdmin },
  Wallet: isWalletOwner,
  // Reached only through Wallet.transactions, guarded above.
  WalletTransactionConnection: isAuthenticated,
  WalletTransactionEdge: isAuthenticated,
  WalletTransaction: isAuthenticated,
  // Deposits and withdrawals are reached through their wallet (its owner) or the caller's own mutation;
  // every owner's list, flags and reconciliation only through admin fields.
  DepositConnection: isAuthenticated,
  DepositEdge: isAuthenticated,
  Deposit: isAuthenticated,
  WithdrawalConnection: isAuthenticated,
  WithdrawalEdge: isAuthenticated,
  Withdrawal: isAuthenticated,
  FraudFlagConnection: isAdmin,
  FraudFlagEdge: isAdmin,
  FraudFlag: isAdmin,
  ReconciliationReport: isAdmin,
  ReconciliationDiscrepancy: isAdmin,
  PageInfo: isAuthenticated,
  Driver: { id: isAuthenticated, earnings: isTheDriver },
  DriverEarnings: isAuthenticated,
  // Wallet cannot tell who may see a trip; the payment's own fields are guarded by its parties.
  Trip: { id: isAuthenticated, payment: isAuthenticated },
  Payment: isPaymentParty,
  PaymentBreakdown: isAuthenticated,
  Money: isAuthenticated,
  TripFareHold: isService,
  TripFareHoldResult: isService,
  TripFareHoldError: isService,
  DriverCommissionDebt: isService,
  ...FEDERATION_TYPE_RULES,
};
