/**
 * The ledger inside a transaction its caller owns: the wallet's trip settlement applies its transfers in
 * the consumer's transaction, together with the record that the event was processed, so an event is
 * either settled and recorded or neither. Calls given together are one batch (batch.ts): the same
 * decisions, refusals and idempotency as the batcher's, without waiting for other callers.
 */
import { parseInput } from '../../../platform/validation.ts';
import { balanceRuleOf, type Account, type SystemAccountKind } from './accounts.ts';
import { applyBatch, type Outcome } from './batch.ts';
import { commandOf, type LedgerCall } from './commands.ts';
import type { LedgerRepository, TransferWithParties } from './ledger-repository.ts';
import type { RunStatement } from './sql-session.ts';
import { currencySchema, LEDGER_CURRENCY, ownedAccountSchema, type OwnedAccountInput } from './validation.ts';
import { randomUUID } from 'node:crypto';

export interface LedgerTransactionOptions {
  driverDebtLimit: bigint;
  /** System account ids already known (never opened inside a transaction that may roll back). */
  knownSystemAccount(kind: SystemAccountKind, currency: string): string | undefined;
}

export class LedgerTransaction {
  readonly #repository: LedgerRepository;
  readonly #run: RunStatement;
  readonly #options: LedgerTransactionOptions;

  constructor(repository: LedgerRepository, run: RunStatement, options: LedgerTransactionOptions) {
    this.#repository = repository;
    this.#run = run;
    this.#options = options;
  }

  /** The owners' accounts, opened where missing: two statements however many. */
  async openAccounts(inputs: readonly OwnedAccountInput[]): Promise<Account[]> {
    const wanted = inputs.map((input) => parseInput(ownedAccountSchema, input));
    return this.#repository.ensureAccounts(
      wanted.map(({ kind, ownerId, currency }) => ({ id: randomUUID(), kind, ownerId, currency, ...balanceRuleOf(kind, this.#options.driverDebtLimit) })),
      this.#run,
    );
  }

  /** A system account's id: the ledger's remembered one, or opened in this transaction. */
  async systemAccountId(kind: SystemAccountKind, currency: string = LEDGER_CURRENCY): Promise<string> {
    const known = this.#options.knownSystemAccount(kind, parseInput(currencySchema, currency));
    if (known) return known;
    const [account] = await this.#repository.ensureAccounts([{ id: randomUUID(), kind, ownerId: null, currency, ...balanceRuleOf(kind, this.#options.driverDebtLimit) }], this.#run);
    return account!.id;
  }

  /**
   * The account, its row locked until the transaction ends: a balance read here still holds when a later
   * call of this transaction applies (a withdrawal's "at most what is available", stricter than the rule's
   * debit limit).
   */
  async lockAccount(id: string): Promise<Account | null> {
    return this.#repository.lockAccount(id, this.#run);
  }

  /** Every transfer about these references (trip ids, ...), oldest first, with its accounts' kinds and owners. */
  transfersByReferences(references: readonly string[]): Promise<TransferWithParties[]> {
    return this.#repository.transfersByReferences(references, this.#run);
  }

  /**
   * Applies the calls as one batch, decided in order (a call sees the effect of those accepted before
   * it): one outcome per call, a refusal being an outcome. Throws only when the database fails, which
   * leaves the caller's transaction to roll back.
   */
  apply(calls: readonly LedgerCall[]): Promise<Outcome[]> {
    if (calls.length === 0) return Promise.resolve([]);
    return applyBatch(this.#repository.within(this.#run), calls.map(commandOf));
  }
}
