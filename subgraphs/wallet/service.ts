/**
 * The wallet's domain service: what its GraphQL fields do, over the ledger (which owns every SQL
 * statement). Arguments arrive parsed (validation.ts); rules (permissions.ts) have already decided who
 * may ask. Reads never open an account: a user without one has an empty wallet.
 */
import { AppError, badUserInput, conflict, notFound } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Connection } from '../../platform/pagination.ts';
import { balanceOf, LEDGER_CURRENCY, type Account, type Ledger, type Outcome, type Transfer, type TransferWithParties } from './ledger/index.ts';
import { CODES, holdKey, openHold, paymentOf, releaseKey, tripLedgerOf, type PaymentStatus, type PaymentView } from './trip-ledger.ts';
import type { MoneyAmount } from './validation.ts';

/** A federated reference, as the router sends it (with the fields a @requires asked for). */
export interface UserReference {
  id: string;
}
export interface TripReference {
  id: string;
  rider?: { id?: string | null } | null;
}
export interface DriverReference {
  id: string;
  user?: { id?: string | null } | null;
}

/** What Wallet resolves from: the owner and their account (null until money first moves). */
export interface WalletView {
  ownerId: string;
  /** Which of the owner's wallets this is (a driver's own view is their driver wallet). */
  kind: (typeof WALLET_KINDS)[number];
  account: Account | null;
  currency: string;
}

/** One wallet entry: a transfer and which of its sides is the wallet. */
export interface WalletEntryView {
  transfer: Transfer;
  accountId: string;
}

export interface EarningsView {
  from: Date;
  to: Date;
  trips: number;
  gross: bigint;
  commission: bigint;
  net: bigint;
  currency: string;
}

/** One fare to hold, as parsed (validation.ts holdArgsSchema). */
export interface FareHoldArgs {
  tripId: string;
  riderId: string;
  amount: MoneyAmount;
}

export interface FareHoldView {
  tripId: string;
  amount: bigint;
  currency: string;
  status: PaymentStatus;
}

export interface CommissionDebtView {
  driverUserId: string;
  debt: bigint;
  limit: bigint;
  currency: string;
  canGoOnline: boolean;
}

export const WALLET_KINDS = ['RIDER_WALLET', 'DRIVER_WALLET'] as const;
const DRIVER_KINDS = ['DRIVER_WALLET', 'DRIVER_RECEIVABLE'] as const;
const EARNING_CODES = [CODES.DRIVER_EARNINGS, CODES.CASH_COMMISSION, CODES.CANCELLATION_COMPENSATION];

export class WalletService {
  readonly ledger: Ledger;
  readonly #driverDebtLimit: bigint;
  readonly #orphanHoldGraceMs: number;
  readonly #logger: Logger;

  constructor(options: { ledger: Ledger; driverDebtLimit: bigint; logger: Logger; orphanHoldGraceMs?: number }) {
    this.ledger = options.ledger;
    this.#driverDebtLimit = options.driverDebtLimit;
    this.#orphanHoldGraceMs = options.orphanHoldGraceMs ?? 600_000;
    this.#logger = options.logger;
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────────

  /** The rider and driver wallets of many users: one statement (for the request's DataLoader). */
  walletAccounts(ownerIds: readonly string[]): Promise<Account[]> {
    return this.ledger.accountsOfOwners(ownerIds, WALLET_KINDS);
  }

  /** Every transfer about many trips: one statement (for the request's DataLoader). */
  tripTransfers(tripIds: readonly string[]): Promise<TransferWithParties[]> {
    return this.ledger.transfersByReferences(tripIds);
  }

  /**
   * A user's wallet among their accounts: the one of their role when they look at their own (a driver
   * sees their driver wallet), otherwise the one they have (a user holds one of the two).
   */
  walletOf(ownerId: string, accounts: readonly Account[], viewer: { userId: string; role: string } | undefined): WalletView {
    const mine = accounts.filter((account) => account.currency === LEDGER_CURRENCY);
    const kind = viewer?.userId === ownerId ? (viewer.role === 'DRIVER' ? 'DRIVER_WALLET' : 'RIDER_WALLET') : (mine.find((account) => account.kind === 'DRIVER_WALLET') ?? mine[0])?.kind;
    return { ownerId, kind: (kind as WalletView['kind'] | undefined) ?? 'RIDER_WALLET', account: mine.find((account) => account.kind === kind) ?? null, currency: LEDGER_CURRENCY };
  }

  async transactions(wallet: WalletView, page: { first: number; after?: string | null }): Promise<Connection<WalletEntryView>> {
    if (!wallet.account) return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
    const accountId = wallet.account.id;
    const connection = await this.ledger.transfers(accountId, page);
    return { ...connection, edges: connection.edges.map((edge) => ({ cursor: edge.cursor, node: { transfer: edge.node, accountId } })) };
  }

  /** A driver's earnings in [from, to), from their wallet's (and receivable's) transfers: two statements. */
  async earnings(driverUserId: string, range: { from: Date; to: Date }): Promise<EarningsView> {
    const view: EarningsView = { ...range, trips: 0, gross: 0n, commission: 0n, net: 0n, currency: LEDGER_CURRENCY };
    const accounts = (await this.ledger.accountsOfOwners([driverUserId], DRIVER_KINDS)).filter((account) => account.currency === LEDGER_CURRENCY);
    for (const total of await this.ledger.codeTotals(accounts.map((account) => account.id), EARNING_CODES, range.from, range.to)) {
      if (total.code === CODES.DRIVER_EARNINGS && total.side === 'CREDIT') {
        // userData is the trip's fare; the amount the driver's share of it.
        Object.assign(view, { trips: view.trips + total.count, gross: view.gross + total.userData, net: view.net + total.amount, commission: view.commission + total.userData - total.amount });
      } else if (total.code === CODES.CASH_COMMISSION && total.side === 'DEBIT') {
        // The driver kept the cash fare (userData) and was charged the commission (the amount).
        Object.assign(view, { trips: view.trips + total.count, gross: view.gross + total.userData, net: view.net + total.userData - total.amount, commission: view.commission + total.amount });
      } else if (total.code === CODES.CANCELLATION_COMPENSATION && total.side === 'CREDIT') {
        Object.assign(view, { gross: view.gross + total.amount, net: view.net + total.amount });
      }
    }
    return view;
  }

  // ── trips' and drivers' service calls ─────────────────────────────────────────────────────────

  /**
   * Holds a WALLET trip's fare (trips, at booking). One hold per trip id, kept however long ago it was
   * made: the same call answers the same hold (whatever became of it), another rider or amount is refused,
   * and a hold still open after half the orphan grace period is refused (HOLD_EXPIRED): the maintenance
   * may be voiding it. The batch of one of `holdTripFares`.
   */
  async holdTripFare(args: FareHoldArgs): Promise<FareHoldView> {
    const [outcome] = await this.holdTripFares([args]);
    if (outcome instanceof AppError) throw outcome;
    return outcome!;
  }

  /**
   * `holdTripFare` for many trips at once (trips sends the bookings of a few milliseconds together): one
   * answer per hold, in order, a refusal being its AppError in its place, so one refused hold never fails
   * another. The usual hold is its trip's first, so every hold goes straight to the ledger, submitted in
   * one turn (one batch, with whatever else arrived then), the riders' wallets named by the ids the ledger
   * remembers (a statement only for riders it has not seen). Only a hold the ledger did not make now (its
   * key replayed, a refusal, or the database's one-hold-per-trip index: a trip held before its key was
   * purged) is decided by the trip's transfers, read in one statement for all of them, as `#adopt` says.
   * A rider without a wallet has nothing to hold (INSUFFICIENT_FUNDS): no account is opened for them. The
   * same trip twice in one call is decided as two calls racing would be (the key `trip:<id>:hold` decides).
   */
  async holdTripFares(holds: readonly FareHoldArgs[]): Promise<Array<FareHoldView | AppError>> {
    if (holds.length === 0) return [];
    const wallets = await this.ledger.accountIdsOfOwners('RIDER_WALLET', holds.map((hold) => ({ ownerId: hold.riderId, currency: hold.amount.currency })));
    const currencies = [...new Set(holds.map((hold) => hold.amount.currency))];
    const clearing = new Map(await Promise.all(currencies.map(async (currency) => [currency, await this.ledger.systemAccountId('TRIP_CLEARING', currency)] as const)));
    const outcomes: Array<FareHoldView | AppError> = new Array(holds.length);
    // The ledger's answer for each hold it did not make now (or none: the rider has no wallet).
    const undecided = new Map<number, PromiseSettledResult<Outcome> | null>();
    const sent: number[] = [];
    const walletOf = ({ riderId, amount }: FareHoldArgs) => wallets.get(`${riderId.toLowerCase()}:${amount.currency}`);
    holds.forEach((args, index) => {
      if (walletOf(args)) sent.push(index);
      else undecided.set(index, null);
    });
    // Submitted in this one turn: the ledger's batcher applies them in one transaction.
    const submitted = await Promise.allSettled(
      sent.map((index) => {
        const { tripId, amount } = holds[index]!;
        return this.ledger.apply({ op: 'hold', input: { idempotencyKey: holdKey(tripId), debitAccountId: walletOf(holds[index]!)!, creditAccountId: clearing.get(amount.currency)!, amount: amount.minor, currency: amount.currency, code: CODES.TRIP_FARE, reference: tripId } });
      }),
    );
    submitted.forEach((result, n) => {
      const index = sent[n]!;
      if (result.status === 'fulfilled' && 'transfer' in result.value && !result.value.replayed) {
        outcomes[index] = { tripId: holds[index]!.tripId, amount: result.value.transfer.amount, currency: result.value.transfer.currency, status: 'AUTHORIZED' };
      } else {
        undecided.set(index, result);
      }
    });
    if (undecided.size === 0) return outcomes;

    const byTrip = new Map<string, TransferWithParties[]>();
    for (const transfer of await this.ledger.transfersByReferences([...new Set([...undecided.keys()].map((index) => holds[index]!.tripId))])) {
      const list = byTrip.get(transfer.reference!);
      if (list) list.push(transfer);
      else byTrip.set(transfer.reference!, [transfer]);
    }
    const now = Date.now();
    for (const [index, answer] of undecided) {
      const args = holds[index]!;
      const existing = holdViewOf(args.tripId, byTrip.get(args.tripId) ?? []);
      outcomes[index] = existing ? this.#adopt(args, existing, now) : this.#refusalOf(args, answer);
    }
    return outcomes;
  }

  /** Why the ledger made no hold for a trip that holds none. */
  #refusalOf({ tripId }: FareHoldArgs, answer: PromiseSettledResult<Outcome> | null): AppError {
    // Nothing was ever paid in: no positive amount fits (the ledger would refuse it the same way).
    if (answer === null) return new AppError('INSUFFICIENT_FUNDS');
    const refusal = answer.status === 'rejected' ? answer.reason : 'error' in answer.value ? answer.value.error : undefined;
    // Another amount or rider holds under this trip id (a racing call), or a key used otherwise.
    if (refusal instanceof AppError && refusal.code === 'CONFLICT' && refusal.extensions.reason === 'IDEMPOTENCY_KEY_REUSED') return heldOtherwise();
    if (refusal instanceof AppError) return refusal;
    // The database failed this hold (whether it committed is unknown), or a replayed hold vanished: this hold's answer only.
    this.#logger.error({ err: refusal, tripId }, 'a fare hold failed');
    return new AppError('INTERNAL_SERVER_ERROR', 'The fare could not be held.');
  }

  /** The answer to a hold asked again for a trip that already holds (or held) a fare. */
  #adopt(args: FareHoldArgs, { hold, view }: { hold: TransferWithParties; view: FareHoldView }, now: number): FareHoldView | AppError {
    if (hold.debitAccount.ownerId?.toLowerCase() !== args.riderId.toLowerCase() || hold.amount !== args.amount.minor || hold.currency !== args.amount.currency) return heldOtherwise();
    // A hold of a booking that never completed, old enough for the maintenance to be voiding it as an
    // orphan (maintenance.ts): a booking adopting it now could be written with its hold released.
    if (view.status === 'AUTHORIZED' && now - hold.createdAt.getTime() > this.#orphanHoldGraceMs / 2) {
      return conflict('This booking was left unfinished too long ago; book again with a new idempotency key.', { reason: 'HOLD_EXPIRED' });
    }
    return view;
  }

  /** Releases a trip's hold (trips, when the booking failed after it); null when nothing was held. */
  async releaseTripFare(tripId: string): Promise<FareHoldView | null> {
    const existing = await this.#holdView(tripId);
    if (!existing) return null;
    if (existing.view.status === 'AUTHORIZED') {
      try {
        await this.ledger.void({ idempotencyKey: releaseKey(tripId), pendingId: existing.hold.id });
      } catch (error) {
        // Resolved meanwhile (by the trip's settlement): the state below says how.
        if (!(error instanceof AppError && error.code === 'CONFLICT')) throw error;
      }
      return (await this.#holdView(tripId))!.view;
    }
    if (existing.view.status !== 'VOIDED') throw conflict('The trip’s fare was already captured; it can only be refunded.', { reason: 'PENDING_ALREADY_POSTED', status: existing.view.status });
    return existing.view;
  }

  async #holdView(tripId: string): Promise<{ hold: TransferWithParties; view: FareHoldView } | null> {
    return holdViewOf(tripId, await this.ledger.transfersByReferences([tripId]));
  }

  /**
   * What a driver owes the platform net of their wallet's balance, and whether it keeps them offline
   * (drivers, at goOnline): once it reaches the limit. A limit of 0 allows no debt at all.
   */
  async commissionDebt(driverUserId: string): Promise<CommissionDebtView> {
    const accounts = (await this.ledger.accountsOfOwners([driverUserId], DRIVER_KINDS)).filter((account) => account.currency === LEDGER_CURRENCY);
    const posted = (kind: string) => {
      const account = accounts.find((candidate) => candidate.kind === kind);
      return account ? balanceOf(account).posted : 0n;
    };
    const owed = posted('DRIVER_RECEIVABLE') - posted('DRIVER_WALLET');
    const debt = owed > 0n ? owed : 0n;
    return { driverUserId, debt, limit: this.#driverDebtLimit, currency: LEDGER_CURRENCY, canGoOnline: debt === 0n || debt < this.#driverDebtLimit };
  }

  // ── admins ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Sends back to the rider part or all of what they paid from the wallet for a trip: a reversal of the
   * fare (or fee) transfer, and the platform's revenue refilling the trip's clearing account, both in one
   * transaction. The ledger caps the reversals of a transfer at its amount, however many refunds race.
   */
  async refundTrip(admin: { userId: string }, args: { tripId: string; amount: MoneyAmount | null; reason: string; idempotencyKey: string }): Promise<PaymentView> {
    const { tripId, amount, reason } = args;
    const ledger = tripLedgerOf(await this.ledger.transfersByReferences([tripId]));
    const paid = ledger.fare ?? ledger.fee;
    if (!paid) {
      if (ledger.commission) throw conflict('The rider paid this trip in cash: nothing was paid from the wallet.', { reason: 'NOT_PAID_FROM_WALLET' });
      if (openHold(ledger)) throw conflict('The trip’s fare is only held: it has not been paid yet.', { reason: 'NOT_CAPTURED' });
      throw notFound('A payment for this trip');
    }
    if (amount && amount.currency !== paid.currency) throw badUserInput('The refund must be in the currency of the payment.', { 'amount.currency': `must be ${paid.currency}` });
    if (amount && amount.minor > paid.amount) throw badUserInput('A refund cannot exceed what was paid.', { 'amount.amount': `must be at most what was paid (${paid.amount} minor units)` });
    const key = `refund:${tripId}:${args.idempotencyKey}`;
    const [clearing, revenue] = [await this.ledger.systemAccountId('TRIP_CLEARING', paid.currency), await this.ledger.systemAccountId('PLATFORM_REVENUE', paid.currency)];
    const refund = await this.ledger.transaction(async (tx) => {
      const [reversal] = await tx.apply([{ op: 'reverse', input: { idempotencyKey: key, transferId: paid.id, amount: amount?.minor ?? null, code: CODES.REFUND, reference: tripId } }]);
      if ('error' in reversal!) throw refundRefusal(reversal.error);
      const [funding] = await tx.apply([{ op: 'transfer', input: { idempotencyKey: `${key}:funding`, debitAccountId: revenue, creditAccountId: clearing, amount: reversal.transfer.amount, currency: paid.currency, code: CODES.REFUND_FUNDING, reference: tripId } }]);
      if ('error' in funding!) throw funding.error;
      return reversal.transfer;
    });
    this.#logger.info({ adminId: admin.userId, tripId, refundId: refund.id, amountMinor: String(refund.amount), reason, idempotencyKey: args.idempotencyKey }, 'trip refunded');
    return paymentOf(tripId, await this.ledger.transfersByReferences([tripId]))!;
  }
}

/** A trip's fare hold among its transfers, and how it stands; null when none was ever taken. */
function holdViewOf(tripId: string, transfers: readonly TransferWithParties[]): { hold: TransferWithParties; view: FareHoldView } | null {
  const hold = tripLedgerOf(transfers).hold;
  if (!hold) return null;
  return { hold, view: { tripId, amount: hold.amount, currency: hold.currency, status: paymentOf(tripId, transfers)!.status } };
}

const heldOtherwise = () => conflict('This trip already holds another amount or another rider’s money.', { reason: 'IDEMPOTENCY_KEY_REUSED' });

/** The ledger's refusals of a reversal, in the words of a refund. */
function refundRefusal(error: AppError): AppError {
  if (error.extensions.reason === 'EXCEEDS_REVERSIBLE_AMOUNT') {
    return conflict('The refund exceeds what is left to refund.', { reason: 'EXCEEDS_REFUNDABLE_AMOUNT', refundableMinor: error.extensions.remaining });
  }
  return error;
}
