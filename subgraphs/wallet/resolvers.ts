import { AppError } from '../../platform/errors.ts';
import { DateTimeScalar } from '../../platform/graphql.ts';
import { toMoney } from '../../platform/money.ts';
import type { WalletContext } from './context.ts';
import type { Resolvers, WalletTransactionKind, WalletTransactionStatus } from './generated/resolvers-types.ts';
import { balanceOf, type Transfer } from './ledger/index.ts';
import type { WalletEntryView, WalletView } from './service.ts';
import { RECEIVABLE_SETTLEMENT } from './maintenance.ts';
import { CODES, paymentOf } from './trip-ledger.ts';
import {
  clearFraudFlagArgsSchema,
  driverUserIdArgsSchema,
  earningsArgsSchema,
  fraudFlagsArgsSchema,
  holdArgsSchema,
  holdsArgsSchema,
  idArgsSchema,
  moneyMovementArgsSchema,
  pageArgsSchema,
  parseInput,
  reconciliationArgsSchema,
  refundArgsSchema,
  rejectWithdrawalArgsSchema,
  tripIdArgsSchema,
  withdrawalsArgsSchema,
} from './validation.ts';

/**
 * Thin: arguments parsed at the edge (validation.ts), then the domain service (service.ts); the
 * ledger's views become GraphQL shapes here. Shield has already run (permissions.ts).
 */
export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    driverCommissionDebt: (_, args, ctx) => ctx.wallet.commissionDebt(parseInput(driverUserIdArgsSchema, args).driverUserId),
    withdrawals: (_, args, ctx) => {
      const { status, ...page } = parseInput(withdrawalsArgsSchema, args);
      return ctx.payments.withdrawals({ status }, page);
    },
    fraudFlags: (_, args, ctx) => {
      const { open, userId, ...page } = parseInput(fraudFlagsArgsSchema, args);
      return ctx.fraud.flags({ open, ownerId: userId }, page);
    },
    reconciliationReport: (_, args, ctx) => ctx.reconciliation.report(parseInput(reconciliationArgsSchema, args).date),
  },
  Mutation: {
    holdTripFare: (_, args, ctx) => ctx.wallet.holdTripFare(parseInput(holdArgsSchema, args)),
    holdTripFares: async (_, args, ctx) => {
      // Each hold parsed on its own: a malformed one is refused alone (BAD_USER_INPUT), like any refusal.
      const raw = parseInput(holdsArgsSchema, args).holds as Array<{ tripId: string }>;
      const parsed = raw.map((hold) => {
        try {
          return parseInput(holdArgsSchema, hold);
        } catch (error) {
          if (error instanceof AppError) return error;
          throw error;
        }
      });
      const valid = parsed.filter((hold): hold is Exclude<typeof hold, AppError> => !(hold instanceof AppError));
      const held = await ctx.wallet.holdTripFares(valid);
      let next = 0;
      return parsed.map((hold, i) => {
        const outcome = hold instanceof AppError ? hold : held[next++]!;
        if (!(outcome instanceof AppError)) return { tripId: outcome.tripId, hold: outcome, error: null };
        const reason = outcome.extensions.reason;
        return { tripId: String(raw[i]!.tripId), hold: null, error: { code: outcome.code, message: outcome.message, reason: typeof reason === 'string' ? reason : null } };
      });
    },
    releaseTripFare: (_, args, ctx) => ctx.wallet.releaseTripFare(parseInput(tripIdArgsSchema, args).tripId),
    refundTrip: (_, args, ctx) => ctx.wallet.refundTrip(ctx.principal!, parseInput(refundArgsSchema, args)),
    startDeposit: (_, args, ctx) => ctx.payments.startDeposit(ctx.principal!, parseInput(moneyMovementArgsSchema, args)),
    requestWithdrawal: (_, args, ctx) => ctx.payments.requestWithdrawal(ctx.principal!, parseInput(moneyMovementArgsSchema, args)),
    approveWithdrawal: (_, args, ctx) => ctx.payments.approveWithdrawal(ctx.principal!, parseInput(idArgsSchema, args).id),
    rejectWithdrawal: (_, args, ctx) => {
      const { id, reason } = parseInput(rejectWithdrawalArgsSchema, args);
      return ctx.payments.rejectWithdrawal(ctx.principal!, id, reason);
    },
    clearFraudFlag: (_, args, ctx) => {
      const { id, note } = parseInput(clearFraudFlagArgsSchema, args);
      return ctx.fraud.clear(ctx.principal!, id, note);
    },
  },
  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    /** A user without an account yet has an empty wallet; reading it opens nothing. */
    wallet: async (user, _, ctx) => ctx.wallet.walletOf(user.id, await ctx.walletAccountsByOwner.load(user.id), ctx.principal),
  },
  Wallet: {
    balance: (wallet) => toMoney(wallet.account ? balanceOf(wallet.account).posted : 0n, wallet.currency),
    available: (wallet) => toMoney(wallet.account ? balanceOf(wallet.account).available : 0n, wallet.currency),
    pending: (wallet) => toMoney(wallet.account ? balanceOf(wallet.account).pending : 0n, wallet.currency),
    transactions: (wallet, args, ctx) => ctx.wallet.transactions(wallet, parseInput(pageArgsSchema, args)),
    deposits: (wallet, args, ctx) => ctx.payments.deposits(wallet.ownerId, wallet.kind, parseInput(pageArgsSchema, args)),
    withdrawals: (wallet, args, ctx) => ctx.payments.withdrawals({ ownerId: wallet.ownerId, accountKind: wallet.kind }, parseInput(pageArgsSchema, args)),
  },
  Deposit: {
    amount: (intent) => toMoney(intent.amount, intent.currency),
  },
  Withdrawal: {
    amount: (withdrawal) => toMoney(withdrawal.amount, withdrawal.currency),
    user: (withdrawal) => ({ id: withdrawal.ownerId }),
  },
  FraudFlag: {
    user: (flag) => ({ id: flag.ownerId }),
    clearedBy: (flag) => (flag.clearedBy ? { id: flag.clearedBy } : null),
  },
  ReconciliationReport: {
    deposited: (report) => toMoney(report.depositedMinor, report.currency),
    paidOut: (report) => toMoney(report.paidOutMinor, report.currency),
  },
  WalletTransaction: {
    id: (entry) => entry.transfer.id,
    amount: (entry) => toMoney(signedAmount(entry), entry.transfer.currency),
    kind: (entry) => entryKind(entry.transfer),
    status: (entry) => entryStatus(entry.transfer),
    description: (entry) => describe(entry.transfer),
    trip: (entry) => (TRIP_CODES.has(entry.transfer.code) && entry.transfer.reference ? { id: entry.transfer.reference } : null),
    createdAt: (entry) => entry.transfer.createdAt,
  },
  Driver: {
    __resolveReference: (reference) => reference,
    earnings: (driver, args, ctx) => ctx.wallet.earnings(driver.user!.id!, parseInput(earningsArgsSchema, args)),
  },
  DriverEarnings: {
    gross: (earnings) => toMoney(earnings.gross, earnings.currency),
    commission: (earnings) => toMoney(earnings.commission, earnings.currency),
    net: (earnings) => toMoney(earnings.net, earnings.currency),
  },
  Trip: {
    /** Wallet knows trips by id (and their rider, which trips gives for Trip.payment's rule). */
    __resolveReference: (reference) => reference,
    payment: async (trip, _, ctx) => paymentOf(trip.id, await ctx.transfersByTrip.load(trip.id), trip.rider?.id ?? null),
  },
  Payment: {
    amount: (payment) => toMoney(payment.amount, payment.currency),
    refunded: (payment) => toMoney(payment.refunded, payment.currency),
    breakdown: (payment) => payment,
  },
  PaymentBreakdown: {
    fare: (payment) => toMoney(payment.fare, payment.currency),
    commission: (payment) => toMoney(payment.commission, payment.currency),
    driverEarnings: (payment) => toMoney(payment.driverEarnings, payment.currency),
    cancellationFee: (payment) => toMoney(payment.cancellationFee, payment.currency),
  },
  TripFareHold: {
    amount: (hold) => toMoney(hold.amount, hold.currency),
  },
  DriverCommissionDebt: {
    debt: (standing) => toMoney(standing.debt, standing.currency),
    limit: (standing) => toMoney(standing.limit, standing.currency),
  },
} satisfies Resolvers<WalletContext>;

export type { WalletView };

const TRIP_CODES = new Set<string>([CODES.TRIP_FARE, CODES.CANCELLATION_FEE, CODES.DRIVER_EARNINGS, CODES.CANCELLATION_COMPENSATION, CODES.CASH_COMMISSION, CODES.REFUND]);

const KINDS: Record<string, WalletTransactionKind> = {
  [CODES.DEPOSIT]: 'DEPOSIT',
  [CODES.TRIP_FARE]: 'TRIP_FARE',
  [CODES.CANCELLATION_FEE]: 'CANCELLATION_FEE',
  [CODES.DRIVER_EARNINGS]: 'TRIP_EARNINGS',
  [CODES.CANCELLATION_COMPENSATION]: 'CANCELLATION_COMPENSATION',
  [CODES.CASH_COMMISSION]: 'COMMISSION',
  [CODES.REFUND]: 'REFUND',
  [CODES.WITHDRAWAL]: 'WITHDRAWAL',
  [RECEIVABLE_SETTLEMENT]: 'COMMISSION_DEBT_PAYMENT',
};

const entryKind = (transfer: Transfer): WalletTransactionKind => KINDS[transfer.code] ?? 'OTHER';

function entryStatus(transfer: Transfer): WalletTransactionStatus {
  if (transfer.kind === 'PENDING') return 'HELD';
  return transfer.kind === 'VOID_PENDING' ? 'RELEASED' : 'POSTED';
}

/** From the wallet's side: out (or held) is negative; a released hold comes back, positive. */
function signedAmount({ transfer, accountId }: WalletEntryView): bigint {
  const out = transfer.debitAccountId === accountId;
  return transfer.kind === 'VOID_PENDING' ? (out ? transfer.amount : -transfer.amount) : out ? -transfer.amount : transfer.amount;
}

function describe(transfer: Transfer): string {
  const money = (minor: bigint) => `${toMoney(minor, transfer.currency).amount} ${transfer.currency}`;
  switch (entryKind(transfer)) {
    case 'DEPOSIT':
      return 'Deposit';
    case 'TRIP_FARE':
      return transfer.kind === 'PENDING' ? 'Fare held for a trip' : transfer.kind === 'VOID_PENDING' ? 'Fare hold released' : 'Trip fare';
    case 'CANCELLATION_FEE':
      return 'Late cancellation fee';
    case 'TRIP_EARNINGS':
      return transfer.userData !== null ? `Trip earnings: fare ${money(transfer.userData)} less commission ${money(transfer.userData - transfer.amount)}` : 'Trip earnings';
    case 'CANCELLATION_COMPENSATION':
      return "Compensation for a rider's late cancellation";
    case 'COMMISSION':
      return transfer.userData !== null ? `Commission on a cash trip (fare ${money(transfer.userData)})` : 'Commission on a cash trip';
    case 'REFUND':
      return 'Refund';
    case 'COMMISSION_DEBT_PAYMENT':
      return 'Commission debt paid from the wallet';
    case 'WITHDRAWAL':
      return transfer.kind === 'PENDING' ? 'Withdrawal requested (held)' : transfer.kind === 'VOID_PENDING' ? 'Withdrawal released' : 'Withdrawal paid out';
    default:
      return transfer.code;
  }
}
