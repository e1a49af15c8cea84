/**
 * What the ledger says about one trip. Every transfer about a trip carries the trip id as its
 * `reference` and a code naming its part; from those alone this module tells which parts of the trip's
 * money have moved (the settlement's plan, settlement.ts) and what its payment looks like (Trip.payment).
 * Pure: no SQL, no clock.
 */
import type { Transfer, TransferWithParties } from './ledger/index.ts';

/** The codes of the wallet's transfers. */
export const CODES = {
  /** Provider clearing → wallet: money paid in. */
  DEPOSIT: 'DEPOSIT',
  /** Wallet → payouts: money paid out (a hold while the withdrawal waits, posted once the provider paid it). */
  WITHDRAWAL: 'WITHDRAWAL',
  /** Rider wallet → trip clearing: the fare (a hold at booking, its post at completion, or a transfer). */
  TRIP_FARE: 'TRIP_FARE',
  /** Rider wallet → trip clearing: a late-cancellation fee (part of the hold posted, or a transfer). */
  CANCELLATION_FEE: 'CANCELLATION_FEE',
  /** Trip clearing → driver wallet: fare − commission (userData: the fare). */
  DRIVER_EARNINGS: 'DRIVER_EARNINGS',
  /** Trip clearing → driver wallet: the whole cancellation fee. */
  CANCELLATION_COMPENSATION: 'CANCELLATION_COMPENSATION',
  /** Trip clearing → platform revenue: the commission on a WALLET trip. */
  COMMISSION: 'COMMISSION',
  /** Driver wallet (or receivable, past the debt limit) → platform revenue: the commission on a CASH trip (userData: the fare). */
  CASH_COMMISSION: 'CASH_COMMISSION',
  /** Trip clearing → rider wallet: a reversal of the fare or fee, in part or whole. */
  REFUND: 'REFUND',
  /** Platform revenue → trip clearing: the platform bears a refund (the driver keeps their share). */
  REFUND_FUNDING: 'REFUND_FUNDING',
} as const;

/** The parts of a trip's settlement, each applied at most once: its idempotency key is `settle:<trip id>:<leg>`. */
export type Leg = 'fare' | 'fee' | 'release' | 'driver' | 'commission';

export const settlementKey = (tripId: string, leg: Leg) => `settle:${tripId}:${leg}`;
/** The hold trips asks for at booking, and its release when the booking failed after it. */
export const holdKey = (tripId: string) => `trip:${tripId}:hold`;
export const releaseKey = (tripId: string) => `trip:${tripId}:release`;

/** One trip's transfers, sorted into the parts of its payment. */
export interface TripLedger<T extends Transfer = Transfer> {
  /** The fare held at booking (PENDING). */
  hold: T | null;
  /** Its post or void, once resolved. */
  holdResolution: T | null;
  /** The rider's fare: the hold posted, or a transfer. */
  fare: T | null;
  /** The rider's late-cancellation fee. */
  fee: T | null;
  /** To the driver: earnings, or the cancellation compensation. */
  driverShare: T | null;
  /** To the platform: on the fare (WALLET) or charged to the driver (CASH). */
  commission: T | null;
  /** Reversals of the fare or fee. */
  refunds: T[];
  /** Every transfer about the trip, oldest first. */
  all: T[];
}

const POSTED = new Set(['SINGLE', 'POST_PENDING']);

/** Sorts a trip's transfers (any order; duplicates by id are ignored) into the parts of its payment. */
export function tripLedgerOf<T extends Transfer>(transfers: readonly T[]): TripLedger<T> {
  const all = [...new Map(transfers.map((transfer) => [transfer.id, transfer])).values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const ledger: TripLedger<T> = { hold: null, holdResolution: null, fare: null, fee: null, driverShare: null, commission: null, refunds: [], all };
  for (const transfer of all) {
    if (transfer.reversalOf !== null) continue;
    if (transfer.kind === 'PENDING' && transfer.code === CODES.TRIP_FARE) ledger.hold ??= transfer;
    else if (POSTED.has(transfer.kind) && transfer.code === CODES.TRIP_FARE) ledger.fare ??= transfer;
    else if (POSTED.has(transfer.kind) && transfer.code === CODES.CANCELLATION_FEE) ledger.fee ??= transfer;
    else if (transfer.code === CODES.DRIVER_EARNINGS || transfer.code === CODES.CANCELLATION_COMPENSATION) ledger.driverShare ??= transfer;
    else if (transfer.code === CODES.COMMISSION || transfer.code === CODES.CASH_COMMISSION) ledger.commission ??= transfer;
  }
  if (ledger.hold) ledger.holdResolution = all.find((transfer) => transfer.pendingId === ledger.hold!.id) ?? null;
  const paid = new Set([ledger.fare?.id, ledger.fee?.id].filter(Boolean));
  ledger.refunds = all.filter((transfer) => transfer.reversalOf !== null && paid.has(transfer.reversalOf));
  return ledger;
}

/** The hold, while neither posted nor voided. */
export const openHold = <T extends Transfer>(ledger: TripLedger<T>): T | null => (ledger.hold && !ledger.holdResolution ? ledger.hold : null);

export type PaymentStatus = 'PENDING' | 'AUTHORIZED' | 'CAPTURED' | 'VOIDED' | 'PARTIALLY_REFUNDED' | 'REFUNDED' | 'FAILED';

/** What Payment resolves from: amounts in minor units of `currency`, and who may see it. */
export interface PaymentView {
  /** The first transfer of the payment (the hold, the fare, or the cash commission). */
  id: string;
  tripId: string;
  status: PaymentStatus;
  method: 'CASH' | 'WALLET' | 'PARTNER';
  currency: string;
  amount: bigint;
  refunded: bigint;
  fare: bigint;
  commission: bigint;
  driverEarnings: bigint;
  cancellationFee: bigint;
  createdAt: Date;
  updatedAt: Date;
  /** The rider: the owner of the wallet that paid, else the trip's rider as trips gave it (@requires). */
  riderUserId: string | null;
  /** The driver: the owner of the wallet (or receivable) their share or commission touched. */
  driverUserId: string | null;
}

const ownerOfKind = (transfer: TransferWithParties | null, kinds: readonly string[]) => {
  if (!transfer) return null;
  if (kinds.includes(transfer.debitAccount.kind)) return transfer.debitAccount.ownerId;
  if (kinds.includes(transfer.creditAccount.kind)) return transfer.creditAccount.ownerId;
  return null;
};

/**
 * A trip's payment from its transfers; null while no money moved for it. `riderId` is the trip's rider
 * as trips knows it (for a CASH trip, no transfer names the rider).
 */
export function paymentOf(tripId: string, transfers: readonly TransferWithParties[], riderId: string | null = null): PaymentView | null {
  const ledger = tripLedgerOf(transfers);
  const cash = ledger.commission?.code === CODES.CASH_COMMISSION && !ledger.fare ? ledger.commission : null;
  const first = ledger.hold ?? ledger.fare ?? ledger.fee ?? cash;
  if (!first) return null;
  const paid = ledger.fare ?? ledger.fee;
  const refunded = ledger.refunds.reduce((sum, refund) => sum + refund.amount, 0n);
  const commission = ledger.commission?.amount ?? 0n;
  const cashFare = cash ? (cash.userData ?? 0n) : null;
  const fare = ledger.fare?.amount ?? cashFare ?? (ledger.hold && !ledger.fee ? ledger.hold.amount : 0n);
  const amount = paid?.amount ?? cashFare ?? ledger.hold!.amount;
  let status: PaymentStatus;
  if (paid && refunded > 0n) status = refunded >= paid.amount ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  else if (paid || cash) status = 'CAPTURED';
  else if (openHold(ledger)) status = 'AUTHORIZED';
  else status = 'VOIDED';
  const wallet = ['RIDER_WALLET'];
  const driver = ['DRIVER_WALLET', 'DRIVER_RECEIVABLE'];
  return {
    id: first.id,
    tripId,
    status,
    method: cash ? 'CASH' : (ledger.hold ?? paid)?.debitAccount.kind === 'PARTNER' ? 'PARTNER' : 'WALLET',
    currency: first.currency,
    amount,
    refunded,
    fare,
    commission,
    driverEarnings: ledger.driverShare?.amount ?? (cashFare !== null ? cashFare - commission : 0n),
    cancellationFee: ledger.fee?.amount ?? 0n,
    createdAt: first.createdAt,
    updatedAt: ledger.all.at(-1)!.createdAt,
    riderUserId: ownerOfKind(ledger.hold ?? paid, wallet) ?? riderId,
    driverUserId: ownerOfKind(ledger.driverShare, driver) ?? ownerOfKind(cash, driver),
  };
}
