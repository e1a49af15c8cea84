/**
 * Money in and out of wallets through the payment provider.
 *
 * Deposits: `startDeposit` records a payment intent (one per owner and idempotency key) and asks the
 * provider for a hosted checkout. Only the provider's verified webhook moves money: in one transaction the
 * event is recorded under its id (a duplicate or replay finds it and stops), the intent is locked, and a
 * success credits the wallet from the provider's clearing account with the ledger key `deposit:<intent>`
 * (so an intent is credited once, whatever arrives twice).
 *
 * Withdrawals: a driver's `requestWithdrawal` holds the amount (at most what is available, under the
 * account's row lock) from their wallet to the payouts account. An admin approves (the provider pays out;
 * its webhook posts the hold) or rejects (the hold is voided). A failed payout voids the hold too.
 */
import { randomUUID } from 'node:crypto';
import { AppError, badUserInput, conflict, notFound } from '../../../platform/errors.ts';
import type { Logger } from '../../../platform/logger.ts';
import { decodeCursor, toConnection, type Connection } from '../../../platform/pagination.ts';
import { isUuid } from '../../../platform/validation.ts';
import type { FraudWatch } from '../fraud.ts';
import { balanceOf, LEDGER_CURRENCY, requestHash, type Account, type Ledger, type LedgerTransaction, type RunStatement } from '../ledger/index.ts';
import { CODES } from '../trip-ledger.ts';
import type { MoneyAmount } from '../validation.ts';
import type { EventOutcome, PaymentIntent, PaymentsRepository, WalletKind, WithdrawalRecord, WithdrawalStatus } from './payments-repository.ts';
import type { PaymentProvider, ProviderEvent } from './provider.ts';

/** The most one deposit may pay in: 100,000.00 EGP. */
export const MAX_DEPOSIT_MINOR = 10_000_000n;

export interface Owner {
  userId: string;
  role: string;
}

/** What a webhook delivery did, for the HTTP answer and the log. */
export interface EventResult {
  eventId: string;
  outcome: EventOutcome | 'DUPLICATE';
  detail: string | null;
}

const walletKindOf = (role: string): WalletKind => (role === 'DRIVER' ? 'DRIVER_WALLET' : 'RIDER_WALLET');

export class PaymentsService {
  readonly #ledger: Ledger;
  readonly #repository: PaymentsRepository;
  readonly #provider: PaymentProvider | null;
  readonly #fraud: FraudWatch;
  readonly #logger: Logger;

  constructor(options: { ledger: Ledger; repository: PaymentsRepository; provider: PaymentProvider | null; fraud: FraudWatch; logger: Logger }) {
    this.#ledger = options.ledger;
    this.#repository = options.repository;
    this.#provider = options.provider;
    this.#fraud = options.fraud;
    this.#logger = options.logger;
  }

  get provider(): PaymentProvider | null {
    return this.#provider;
  }

  // ── deposits ──────────────────────────────────────────────────────────────────────────────────

  async startDeposit(owner: Owner, args: { amount: MoneyAmount; idempotencyKey: string }): Promise<PaymentIntent> {
    const provider = this.#requireProvider('Deposits');
    const { amount, idempotencyKey } = args;
    assertWalletCurrency(amount);
    if (amount.minor > MAX_DEPOSIT_MINOR) throw badUserInput('This deposit is larger than one deposit may be.', { 'amount.amount': `must be at most ${MAX_DEPOSIT_MINOR / 100n} ${amount.currency}` });
    const accountKind = walletKindOf(owner.role);
    const hash = requestHash('startDeposit', { amount: amount.minor, currency: amount.currency, accountKind });
    const { intent, created } = await this.#repository.insertIntent({ id: randomUUID(), ownerId: owner.userId, accountKind, amount: amount.minor, currency: amount.currency, provider: provider.name, idempotencyKey, requestHash: hash });
    if (!created && intent.requestHash !== hash) throw keyReused();
    if (created) await this.#fraud.afterDepositStarted(owner.userId);
    if (intent.checkoutUrl || intent.status !== 'PENDING') return intent;
    // New, or an earlier call's provider request failed: the provider answers the same checkout for the same intent id.
    const checkout = await this.#callProvider(() => provider.createCheckout({ intentId: intent.id, amountMinor: intent.amount, currency: intent.currency, description: 'SmartLine wallet top-up' }));
    return this.#repository.setCheckout(intent.id, checkout.providerReference, checkout.checkoutUrl);
  }

  async deposits(ownerId: string, accountKind: WalletKind, page: { first: number; after?: string | null }): Promise<Connection<PaymentIntent>> {
    const rows = await this.#repository.intentsOfOwner(ownerId, accountKind, decodeCursor(page.after), page.first + 1);
    return toConnection(rows, page.first, (intent) => ({ at: intent.createdAt, id: intent.id }));
  }

  // ── withdrawals ───────────────────────────────────────────────────────────────────────────────

  async requestWithdrawal(owner: Owner, args: { amount: MoneyAmount; idempotencyKey: string }): Promise<WithdrawalRecord> {
    const { amount, idempotencyKey } = args;
    assertWalletCurrency(amount);
    const accountKind = walletKindOf(owner.role);
    const hash = requestHash('requestWithdrawal', { amount: amount.minor, currency: amount.currency, accountKind });
    const existing = await this.#repository.withdrawalByKey(owner.userId, idempotencyKey);
    if (existing) return sameRequest(existing, hash);
    await this.#fraud.beforeWithdrawal(owner.userId, amount.minor, amount.currency);

    const id = randomUUID();
    const wallet = await this.#ledger.openAccount({ kind: accountKind, ownerId: owner.userId, currency: amount.currency });
    const payouts = await this.#ledger.systemAccountId('PAYOUTS', amount.currency);
    const receivable = accountKind === 'DRIVER_WALLET' ? await this.#ledger.findAccount('DRIVER_RECEIVABLE', owner.userId, amount.currency) : null;
    const result = await this.#ledger.transaction(async (tx, run) => {
      // Locked in id order, as the ledger's batches and the receivable sweep lock them.
      const locked = new Map<string, Account>();
      for (const id of [wallet.id, ...(receivable ? [receivable.id] : [])].sort()) locked.set(id, (await tx.lockAccount(id))!);
      // A driver wallet's rule allows commission debt; a withdrawal takes only what is there, less what
      // the driver still owes on their receivable (the maintenance's sweep has not taken it yet).
      const owed = receivable ? balanceOf(locked.get(receivable.id)!).posted : 0n;
      const available = balanceOf(locked.get(wallet.id)!).available - (owed > 0n ? owed : 0n);
      if (available < amount.minor) throw new AppError('INSUFFICIENT_FUNDS', 'You can withdraw at most what is available in your wallet, less any commission you owe.', { availableMinor: String(available > 0n ? available : 0n) });
      const [hold] = await tx.apply([{ op: 'hold', input: { idempotencyKey: `withdrawal:${id}:hold`, debitAccountId: wallet.id, creditAccountId: payouts, amount: amount.minor, currency: amount.currency, code: CODES.WITHDRAWAL, reference: id } }]);
      if ('error' in hold!) throw hold.error;
      const withdrawal = await this.#repository.insertWithdrawal({ id, ownerId: owner.userId, accountKind, amount: amount.minor, currency: amount.currency, holdTransferId: hold.transfer.id, idempotencyKey, requestHash: hash }, run);
      // Null: a concurrent request with the same key won; this transaction rolls its hold back.
      if (!withdrawal) throw new KeyTakenMeanwhile();
      return withdrawal;
    }).catch(async (error) => {
      if (!(error instanceof KeyTakenMeanwhile)) throw error;
      return sameRequest((await this.#repository.withdrawalByKey(owner.userId, idempotencyKey))!, hash);
    });
    this.#logger.info({ withdrawalId: result.id, ownerId: owner.userId, amountMinor: String(result.amount) }, 'withdrawal requested');
    return result;
  }

  /** Admin: pays the withdrawal out through the provider (its result arrives by webhook). Again on PROCESSING: asks the provider again (the same payout). */
  async approveWithdrawal(admin: { userId: string }, id: string): Promise<WithdrawalRecord> {
    const provider = this.#requireProvider('Payouts');
    let withdrawal = await this.#withdrawal(id);
    if (withdrawal.status === 'REQUESTED') {
      await this.#fraud.assertMayWithdraw(withdrawal.ownerId);
      withdrawal = (await this.#repository.transitionWithdrawal(id, 'REQUESTED', 'PROCESSING', { decidedBy: admin.userId, provider: provider.name })) ?? (await this.#withdrawal(id));
    }
    if (withdrawal.status !== 'PROCESSING') throw alreadyDecided(withdrawal.status);
    if (withdrawal.providerReference) return withdrawal;
    const payout = await this.#callProvider(() => provider.createPayout({ withdrawalId: id, recipientId: withdrawal.ownerId, amountMinor: withdrawal.amount, currency: withdrawal.currency }));
    this.#logger.info({ adminId: admin.userId, withdrawalId: id, payout: payout.providerReference }, 'withdrawal approved');
    return (await this.#repository.transitionWithdrawal(id, 'PROCESSING', 'PROCESSING', { providerReference: payout.providerReference })) ?? this.#withdrawal(id);
  }

  /** Admin: refuses the withdrawal and gives the held money back. */
  async rejectWithdrawal(admin: { userId: string }, id: string, reason: string): Promise<WithdrawalRecord> {
    const withdrawal = await this.#ledger.transaction(async (tx, run) => {
      const current = await this.#repository.withdrawalById(id, run, true);
      if (!current) throw notFound('The withdrawal');
      if (current.status !== 'REQUESTED') throw alreadyDecided(current.status);
      await voidHold(tx, current, 'reject');
      return (await this.#repository.transitionWithdrawal(id, 'REQUESTED', 'REJECTED', { reason, decidedBy: admin.userId }, run))!;
    });
    this.#logger.info({ adminId: admin.userId, withdrawalId: id, reason }, 'withdrawal rejected');
    return withdrawal;
  }

  async withdrawals(filter: { ownerId?: string; accountKind?: WalletKind; status?: WithdrawalStatus | null }, page: { first: number; after?: string | null }): Promise<Connection<WithdrawalRecord>> {
    const rows = await this.#repository.withdrawals(filter, decodeCursor(page.after), page.first + 1);
    return toConnection(rows, page.first, (withdrawal) => ({ at: withdrawal.createdAt, id: withdrawal.id }));
  }

  async #withdrawal(id: string): Promise<WithdrawalRecord> {
    const withdrawal = await this.#repository.withdrawalById(id);
    if (!withdrawal) throw notFound('The withdrawal');
    return withdrawal;
  }

  // ── the provider's webhooks ───────────────────────────────────────────────────────────────────

  /**
   * Applies one verified provider event, exactly once: recorded first under its id (a concurrent
   * duplicate waits on that row and then finds it), then the intent or withdrawal it names is locked and
   * moved on, with the ledger transfer, all in one transaction.
   */
  async applyProviderEvent(event: ProviderEvent, signedAt: Date): Promise<EventResult> {
    const provider = this.#requireProvider('Webhooks');
    const result = await this.#ledger.transaction(async (tx, run): Promise<EventResult & { failedDepositOf?: string }> => {
      const fresh = await this.#repository.recordEvent(
        { id: event.id, provider: provider.name, type: event.type === 'OTHER' ? event.providerType : event.type, objectReference: event.objectReference, amount: event.amountMinor, currency: event.currency, outcome: 'IGNORED', detail: null, signedAt },
        run,
      );
      if (!fresh) return { eventId: event.id, outcome: 'DUPLICATE', detail: 'this event was received before' };
      const applied = event.type === 'OTHER' ? { outcome: 'IGNORED' as const, detail: `not an event the wallet acts on (${event.providerType})` } : await this.#apply(tx, run, event);
      await this.#repository.setEventOutcome(event.id, applied.outcome, applied.detail, run);
      return { eventId: event.id, ...applied };
    });
    const { failedDepositOf, ...answer } = result;
    if (failedDepositOf) await this.#fraud.afterDepositFailed(failedDepositOf);
    const level = answer.outcome === 'MISMATCH' || answer.outcome === 'UNKNOWN_OBJECT' ? 'warn' : 'info';
    this.#logger[level]({ eventId: event.id, type: event.type, objectReference: event.objectReference, outcome: answer.outcome, detail: answer.detail }, 'payment provider event');
    return answer;
  }

  async #apply(tx: LedgerTransaction, run: RunStatement, event: Exclude<ProviderEvent, { type: 'OTHER' }>): Promise<{ outcome: EventOutcome; detail: string | null; failedDepositOf?: string }> {
    const name = { walletId: event.walletReference && isUuid(event.walletReference) ? event.walletReference : null, reference: event.objectReference };
    if (event.type === 'DEPOSIT_SUCCEEDED' || event.type === 'DEPOSIT_FAILED') {
      const intent = await this.#repository.lockIntent(name, run);
      if (!intent || (intent.providerReference && intent.providerReference !== event.objectReference)) return { outcome: 'UNKNOWN_OBJECT', detail: 'no deposit of ours has this reference' };
      if (intent.amount !== event.amountMinor || intent.currency !== event.currency) return { outcome: 'MISMATCH', detail: `the deposit is ${intent.amount} ${intent.currency}; the event says ${event.amountMinor} ${event.currency}` };
      if (event.type === 'DEPOSIT_FAILED') {
        if (intent.status !== 'PENDING') return { outcome: 'ALREADY_APPLIED', detail: `the deposit is already ${intent.status}` };
        await this.#repository.markIntentFailed(intent.id, event.failureReason ?? 'declined', run);
        return { outcome: 'APPLIED', detail: null, failedDepositOf: intent.ownerId };
      }
      // A success after a decline is real (the payer tried another card): it is credited.
      if (intent.status === 'SUCCEEDED') return { outcome: 'ALREADY_APPLIED', detail: 'the deposit was already credited' };
      const [wallet] = await tx.openAccounts([{ kind: intent.accountKind, ownerId: intent.ownerId, currency: intent.currency }]);
      const [credit] = await tx.apply([
        { op: 'transfer', input: { idempotencyKey: `deposit:${intent.id}`, debitAccountId: await tx.systemAccountId('PROVIDER_CLEARING', intent.currency), creditAccountId: wallet!.id, amount: intent.amount, currency: intent.currency, code: CODES.DEPOSIT, reference: intent.id } },
      ]);
      if ('error' in credit!) throw credit.error;
      await this.#repository.markIntentSucceeded(intent.id, credit.transfer.id, event.objectReference, run);
      return { outcome: 'APPLIED', detail: null };
    }
    const withdrawal = await this.#repository.lockWithdrawal(name, run);
    if (!withdrawal || (withdrawal.providerReference && withdrawal.providerReference !== event.objectReference)) return { outcome: 'UNKNOWN_OBJECT', detail: 'no payout of ours has this reference' };
    if (withdrawal.amount !== event.amountMinor || withdrawal.currency !== event.currency) return { outcome: 'MISMATCH', detail: `the payout is ${withdrawal.amount} ${withdrawal.currency}; the event says ${event.amountMinor} ${event.currency}` };
    const target = event.type === 'PAYOUT_PAID' ? 'PAID' : 'FAILED';
    if (withdrawal.status === target) return { outcome: 'ALREADY_APPLIED', detail: `the withdrawal is already ${target}` };
    // PAID then FAILED (a bank returning a payout) or the reverse needs a person: reconciliation lists it.
    if (withdrawal.status !== 'PROCESSING') return { outcome: 'MISMATCH', detail: `the payout is reported ${target} but the withdrawal is ${withdrawal.status}` };
    if (target === 'PAID') {
      const [post] = await tx.apply([{ op: 'post', input: { idempotencyKey: `withdrawal:${withdrawal.id}:post`, pendingId: withdrawal.holdTransferId } }]);
      if ('error' in post!) throw post.error;
    } else {
      await voidHold(tx, withdrawal, 'payout-failed');
    }
    await this.#repository.transitionWithdrawal(withdrawal.id, 'PROCESSING', target, { reason: target === 'FAILED' ? (event.failureReason ?? 'the payout failed') : null, providerReference: event.objectReference }, run);
    return { outcome: 'APPLIED', detail: null };
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────

  #requireProvider(what: string): PaymentProvider {
    if (!this.#provider) throw new AppError('SERVICE_UNAVAILABLE', `${what} are not available: no payment provider is configured.`);
    return this.#provider;
  }

  async #callProvider<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.#logger.error({ err: error }, 'payment provider call failed');
      throw new AppError('SERVICE_UNAVAILABLE', 'The payment provider did not answer; try again with the same idempotency key.');
    }
  }
}

class KeyTakenMeanwhile extends Error {}

async function voidHold(tx: LedgerTransaction, withdrawal: WithdrawalRecord, why: string): Promise<void> {
  const [released] = await tx.apply([{ op: 'void', input: { idempotencyKey: `withdrawal:${withdrawal.id}:${why}`, pendingId: withdrawal.holdTransferId } }]);
  if ('error' in released!) throw released.error;
}

function assertWalletCurrency(amount: MoneyAmount): void {
  if (amount.currency !== LEDGER_CURRENCY) throw badUserInput(`Wallets hold ${LEDGER_CURRENCY}.`, { 'amount.currency': `must be ${LEDGER_CURRENCY}` });
}

function sameRequest(withdrawal: WithdrawalRecord, hash: string): WithdrawalRecord {
  if (withdrawal.requestHash !== hash) throw keyReused();
  return withdrawal;
}

const keyReused = () => conflict('This idempotency key was used for a different request.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
const alreadyDecided = (status: WithdrawalStatus) => conflict(`The withdrawal is already ${status}.`, { reason: 'ALREADY_DECIDED', status });
