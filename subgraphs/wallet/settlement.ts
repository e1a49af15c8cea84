/**
 * Settling finished trips on the ledger. A trip's settlement is a few legs, each a transfer with the trip
 * id as reference and an idempotency key derived from it (`settle:<trip>:<leg>`):
 *
 *   WALLET, completed   fare        rider wallet → trip clearing: the hold posted (or, with no hold, a transfer)
 *   (PARTNER alike: the payer is the partner's account instead of the rider's wallet)
 *                       driver      trip clearing → driver wallet: fare − commission (userData: the fare)
 *                       commission  trip clearing → platform revenue
 *   CASH, completed     commission  driver wallet → platform revenue (userData: the fare); past the
 *                                   wallet's debt limit, from the driver's receivable instead
 *   cancelled, a fee    fee         rider wallet → trip clearing: that much of the hold posted (the rest is
 *                                   released), or with no hold a transfer if the wallet covers it
 *                       driver      trip clearing → driver wallet: the whole fee
 *   cancelled, free     release     the hold voided
 *
 * `planTrip` decides the next legs from what the ledger shows about the trip (trip-ledger.ts), so a
 * settlement found half done (by a replica that died, a redelivered or duplicated event) completes the
 * rest and repeats nothing; a leg is planned only once the legs it depends on are in the ledger. The
 * runner applies the legs of many trips together, in the caller's transaction (the consumer's, with its
 * processed-event record): an event is settled and recorded, or neither.
 */
import { AppError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { LedgerCall, LedgerTransaction, Transfer } from './ledger/index.ts';
import { CODES, openHold, settlementKey, tripLedgerOf, type Leg, type TripLedger } from './trip-ledger.ts';

/** A finished trip, as trips' TripCompleted / TripCancelled tell it (amounts in minor units). */
export type TripOutcome =
  | { type: 'COMPLETED'; tripId: string; riderId: string; driverUserId: string; fare: bigint; commission: bigint; currency: string; method: 'CASH' | 'WALLET' | 'PARTNER'; at: Date; partnerId?: string | null }
  | { type: 'CANCELLED'; tripId: string; riderId: string; driverUserId: string | null; fee: bigint; currency: string; at: Date; partnerId?: string | null };

/** The accounts of one trip's legs. */
export interface SettlementAccounts {
  /**
   * Who pays: the rider's wallet, or the partner's account for a partner's trip (PARTNER: the fare held
   * there at booking, posted like a wallet's); null when the trip cannot touch it (a CASH completion, a
   * free cancellation).
   */
  rider: string | null;
  /** The driver's wallet; null for a trip no driver accepted. */
  driver: string | null;
  /** The driver's receivable, once a cash commission needed it. */
  receivable: string | null;
  clearing: string;
  revenue: string;
}

/** How a leg moves money: the same leg has alternatives (a hold posted, or a transfer; the wallet, or the receivable). */
export type LegForm = 'post' | 'transfer' | 'void' | 'receivable';

export interface PlannedLeg {
  tripId: string;
  leg: Leg;
  form: LegForm;
  call: LedgerCall;
}

export interface Refusal {
  form: LegForm;
  error: AppError;
}

export type Plan =
  | { legs: PlannedLeg[] }
  /** Nothing is left to move (`note`: what was given up, for the log). */
  | { settled: true; note?: string }
  /** A cash commission past the debt limit: the driver's receivable must be opened first. */
  | { needsReceivable: true }
  /** It cannot be settled now and must not be acknowledged as if it were (the event is retried, then parked). */
  | { unsettled: AppError | Error };

/** Whether the payer (the rider's wallet, or a partner's account) may pay something: a WALLET or PARTNER fare, or a late-cancellation fee owed to a driver. */
const paysFromWallet = (outcome: TripOutcome) => (outcome.type === 'COMPLETED' ? outcome.method !== 'CASH' : outcome.fee > 0n && outcome.driverUserId !== null);

const isCode = (refusal: Refusal | undefined, code: string) => refusal?.error.extensions.code === code;

/** The next legs of one trip's settlement, given what the ledger shows and what was refused in this attempt. */
export function planTrip(outcome: TripOutcome, ledger: TripLedger, accounts: SettlementAccounts, refused: ReadonlyMap<Leg, Refusal>, imported: boolean): Plan {
  const { tripId, currency } = outcome;
  const common = { reference: tripId, ...(imported ? { importedAt: outcome.at } : {}) };
  const leg = (name: Leg, form: LegForm, call: LedgerCall): PlannedLeg => ({ tripId, leg: name, form, call });
  const move = (name: Leg, form: LegForm, debitAccountId: string, creditAccountId: string, amount: bigint, code: string, userData?: bigint) =>
    leg(name, form, { op: 'transfer', input: { idempotencyKey: settlementKey(tripId, name), debitAccountId, creditAccountId, amount, currency, code, userData, ...common } });
  const hold = openHold(ledger);

  if (outcome.type === 'COMPLETED') {
    if (outcome.commission > outcome.fare) return { unsettled: new Error(`trip ${tripId}: the commission ${outcome.commission} exceeds the fare ${outcome.fare}`) };
    if (outcome.method === 'CASH') {
      if (ledger.commission || outcome.commission === 0n) return { settled: true };
      const refusal = refused.get('commission');
      if (!refusal) return { legs: [move('commission', 'transfer', accounts.driver!, accounts.revenue, outcome.commission, CODES.CASH_COMMISSION, outcome.fare)] };
      // Past the wallet's debt limit the debt is still recorded, on the driver's receivable: the limit
      // keeps a driver offline (driverCommissionDebt), it never refuses a ride already driven.
      if (refusal.form === 'transfer' && isCode(refusal, 'INSUFFICIENT_FUNDS')) {
        if (!accounts.receivable) return { needsReceivable: true };
        return { legs: [move('commission', 'receivable', accounts.receivable, accounts.revenue, outcome.commission, CODES.CASH_COMMISSION, outcome.fare)] };
      }
      return { unsettled: refusal.error };
    }
    if (!ledger.fare) {
      const refusal = refused.get('fare');
      if (hold && !refusal) {
        if (outcome.fare > hold.amount) return { unsettled: new Error(`trip ${tripId}: the fare ${outcome.fare} exceeds the ${hold.amount} held`) };
        return { legs: [leg('fare', 'post', { op: 'post', input: { idempotencyKey: settlementKey(tripId, 'fare'), pendingId: hold.id, amount: outcome.fare, code: CODES.TRIP_FARE, ...common } })] };
      }
      // A trip booked before holds existed (or whose hold was released): the fare from the wallet, if it covers it.
      if (refusal && (refusal.form !== 'post' || !isCode(refusal, 'CONFLICT'))) return { unsettled: refusal.error };
      return { legs: [move('fare', 'transfer', accounts.rider!, accounts.clearing, outcome.fare, CODES.TRIP_FARE)] };
    }
    const fare = ledger.fare.amount;
    const legs: PlannedLeg[] = [];
    if (!ledger.driverShare && fare > outcome.commission) legs.push(move('driver', 'transfer', accounts.clearing, accounts.driver!, fare - outcome.commission, CODES.DRIVER_EARNINGS, fare));
    if (!ledger.commission && outcome.commission > 0n) legs.push(move('commission', 'transfer', accounts.clearing, accounts.revenue, outcome.commission, CODES.COMMISSION));
    const failed = legs.map((planned) => refused.get(planned.leg)).find(Boolean);
    if (failed) return { unsettled: failed.error };
    return legs.length > 0 ? { legs } : { settled: true };
  }

  // Cancelled. A fee is owed only to a driver who was assigned; anything else releases the hold.
  if (outcome.fee > 0n && outcome.driverUserId) {
    if (!ledger.fee) {
      const refusal = refused.get('fee');
      if (hold && !refusal) {
        const amount = outcome.fee < hold.amount ? outcome.fee : hold.amount;
        return { legs: [leg('fee', 'post', { op: 'post', input: { idempotencyKey: settlementKey(tripId, 'fee'), pendingId: hold.id, amount, code: CODES.CANCELLATION_FEE, ...common } })] };
      }
      if (refusal?.form === 'transfer' && isCode(refusal, 'INSUFFICIENT_FUNDS')) return { settled: true, note: 'cancellation fee not collected: the wallet does not cover it and nothing was held' };
      if (refusal && (refusal.form !== 'post' || !isCode(refusal, 'CONFLICT'))) return { unsettled: refusal.error };
      return { legs: [move('fee', 'transfer', accounts.rider!, accounts.clearing, outcome.fee, CODES.CANCELLATION_FEE)] };
    }
    if (ledger.driverShare) return { settled: true };
    const refusal = refused.get('driver');
    if (refusal) return { unsettled: refusal.error };
    return { legs: [move('driver', 'transfer', accounts.clearing, accounts.driver!, ledger.fee.amount, CODES.CANCELLATION_COMPENSATION)] };
  }
  if (!hold) return { settled: true };
  const refusal = refused.get('release');
  // Resolved meanwhile (released by trips, or by another settlement): nothing left to release.
  if (refusal) return isCode(refusal, 'CONFLICT') ? { settled: true } : { unsettled: refusal.error };
  return { legs: [leg('release', 'void', { op: 'void', input: { idempotencyKey: settlementKey(tripId, 'release'), pendingId: hold.id, ...common } })] };
}

/**
 * Whether the ledger shows the trip's settlement complete (what planTrip would find nothing left to do
 * for, refusals aside): a cheap test before opening any account.
 */
export function isSettled(outcome: TripOutcome, ledger: TripLedger): boolean {
  if (outcome.type === 'COMPLETED') {
    const commissionDone = outcome.commission === 0n || ledger.commission !== null;
    if (outcome.method === 'CASH') return commissionDone;
    return ledger.fare !== null && (ledger.driverShare !== null || ledger.fare.amount <= outcome.commission) && commissionDone;
  }
  if (outcome.fee > 0n && outcome.driverUserId) return ledger.fee !== null && ledger.driverShare !== null;
  return openHold(ledger) === null;
}

export interface SettlementHooks {
  /** Called before each batch of legs is applied (tests make one throw, as a crash between legs would). */
  beforeLegs?(legs: readonly PlannedLeg[]): void | Promise<void>;
}

/** A batch of planning and applying rounds never needs more than this (fare, then shares; a fallback each). */
const MAX_ROUNDS = 5;

export class Settlement {
  readonly #logger: Logger;
  readonly #hooks: SettlementHooks;

  constructor(options: { logger: Logger; hooks?: SettlementHooks }) {
    this.#logger = options.logger;
    this.#hooks = options.hooks ?? {};
  }

  /**
   * Settles `outcomes` in `tx`: one read of the trips' transfers, their accounts opened in one go, then
   * rounds of legs (each one batch for all trips). Throws when a trip cannot be settled now (a WALLET trip
   * without a hold whose rider cannot pay, a leg the ledger refused unexpectedly): the caller's
   * transaction then rolls back whole. `imported` stamps each leg with the trip's own time (the demo city's history).
   */
  async settle(tx: LedgerTransaction, outcomes: readonly TripOutcome[], options: { imported?: boolean } = {}): Promise<void> {
    if (outcomes.length === 0) return;
    const accounts = await this.#accounts(tx, outcomes);
    const known = new Map<string, Transfer[]>(outcomes.map((outcome) => [outcome.tripId, []]));
    for (const transfer of await tx.transfersByReferences([...known.keys()])) known.get(transfer.reference!)!.push(transfer);
    const refused = new Map<string, Map<Leg, Refusal>>(outcomes.map((outcome) => [outcome.tripId, new Map()]));
    let pending = [...outcomes];

    for (let round = 0; pending.length > 0; round += 1) {
      if (round === MAX_ROUNDS) throw new Error(`settlement of ${pending.map((outcome) => outcome.tripId).join(', ')} did not finish in ${MAX_ROUNDS} rounds`);
      const planned: PlannedLeg[] = [];
      const needReceivable: TripOutcome[] = [];
      const next: TripOutcome[] = [];
      const planAll = (batch: readonly TripOutcome[]) => {
        for (const outcome of batch) {
          const plan = planTrip(outcome, tripLedgerOf(known.get(outcome.tripId)!), accounts.get(outcome.tripId)!, refused.get(outcome.tripId)!, options.imported ?? false);
          if ('legs' in plan) {
            planned.push(...plan.legs);
            next.push(outcome);
          } else if ('needsReceivable' in plan) {
            needReceivable.push(outcome);
          } else if ('unsettled' in plan) {
            this.#logger.warn({ tripId: outcome.tripId, type: outcome.type, err: plan.unsettled }, 'trip not settled: the event will be retried, then parked in dead_events for reconciliation');
            throw plan.unsettled;
          } else if (plan.note) {
            this.#logger.warn({ tripId: outcome.tripId, type: outcome.type, riderId: outcome.riderId }, plan.note);
          }
        }
      };
      planAll(pending);
      if (needReceivable.length > 0) {
        await this.#openReceivables(tx, needReceivable, accounts);
        planAll(needReceivable);
      }
      if (planned.length === 0) break;
      await this.#hooks.beforeLegs?.(planned);
      const results = await tx.apply(planned.map((leg) => leg.call));
      results.forEach((result, i) => {
        const { tripId, leg, form } = planned[i]!;
        if ('transfer' in result) known.get(tripId)!.push(result.transfer);
        else refused.get(tripId)!.set(leg, { form, error: result.error });
      });
      pending = next;
    }
  }

  /** Every trip's accounts: rider and driver wallets opened where missing, in one statement pair. */
  async #accounts(tx: LedgerTransaction, outcomes: readonly TripOutcome[]): Promise<Map<string, SettlementAccounts>> {
    const system = new Map<string, { clearing: string; revenue: string }>();
    for (const currency of new Set(outcomes.map((outcome) => outcome.currency))) {
      system.set(currency, { clearing: await tx.systemAccountId('TRIP_CLEARING', currency), revenue: await tx.systemAccountId('PLATFORM_REVENUE', currency) });
    }
    type Kind = 'RIDER_WALLET' | 'DRIVER_WALLET' | 'PARTNER';
    const wanted = new Map<string, { kind: Kind; ownerId: string; currency: string }>();
    const want = (kind: Kind, ownerId: string, currency: string) => wanted.set(`${kind}:${ownerId}:${currency}`, { kind, ownerId, currency });
    // A partner's trip is paid from the partner's account (its payer), never from the guest's wallet.
    const payerOf = (outcome: TripOutcome) => (outcome.partnerId ? { kind: 'PARTNER' as const, ownerId: outcome.partnerId } : { kind: 'RIDER_WALLET' as const, ownerId: outcome.riderId });
    for (const outcome of outcomes) {
      if (paysFromWallet(outcome)) want(payerOf(outcome).kind, payerOf(outcome).ownerId, outcome.currency);
      if (outcome.driverUserId) want('DRIVER_WALLET', outcome.driverUserId, outcome.currency);
    }
    const opened = new Map((await tx.openAccounts([...wanted.values()])).map((account) => [`${account.kind}:${account.ownerId}:${account.currency}`, account.id]));
    return new Map(
      outcomes.map((outcome) => [
        outcome.tripId,
        {
          rider: opened.get(`${payerOf(outcome).kind}:${payerOf(outcome).ownerId}:${outcome.currency}`) ?? null,
          driver: outcome.driverUserId ? opened.get(`DRIVER_WALLET:${outcome.driverUserId}:${outcome.currency}`)! : null,
          receivable: null,
          ...system.get(outcome.currency)!,
        },
      ]),
    );
  }

  async #openReceivables(tx: LedgerTransaction, outcomes: readonly TripOutcome[], accounts: Map<string, SettlementAccounts>) {
    const receivables = await tx.openAccounts(outcomes.map((outcome) => ({ kind: 'DRIVER_RECEIVABLE' as const, ownerId: outcome.driverUserId!, currency: outcome.currency })));
    outcomes.forEach((outcome, i) => {
      accounts.get(outcome.tripId)!.receivable = receivables[i]!.id;
      this.#logger.warn({ tripId: outcome.tripId, driverUserId: outcome.driverUserId }, "cash commission past the driver's debt limit: recorded on their receivable");
    });
  }
}
