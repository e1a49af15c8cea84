/**
 * The wallet's double-entry ledger: accounts, immutable transfers, two-phase holds, reversals, balances,
 * an account's history and the balance check. Every money-moving call is validated here (the edge),
 * carries an idempotency key and goes through the batcher, which applies calls arriving together in
 * one transaction (batch.ts). One instance per process; any number of processes may share a database.
 */
import { randomUUID } from 'node:crypto';
import { executeStatement, type EntityManager } from '../../../platform/db.ts';
import { badUserInput, notFound } from '../../../platform/errors.ts';
import { decodeCursor, toConnection, type Connection } from '../../../platform/pagination.ts';
import { parseInput } from '../../../platform/validation.ts';
import { balanceOf, balanceRuleOf, type Account, type AccountKind, type Balance, type SystemAccountKind } from './accounts.ts';
import { applyBatch, type Outcome } from './batch.ts';
import { Batcher } from '../../../platform/batcher.ts';
import { ledgerCheck, type LedgerCheck } from './check.ts';
import { commandOf, type LedgerCall } from './commands.ts';
import { MIN_KEY_RETENTION_MS } from './idempotency.ts';
import { LedgerRepository, type CodeTotal, type TransferWithParties } from './ledger-repository.ts';
import { LedgerTransaction } from './ledger-transaction.ts';
import type { RunStatement } from './sql-session.ts';
import type { Transfer, TransferCommand } from './transfers.ts';
import {
  accountIdSchema,
  accountKindSchema,
  currencySchema,
  LEDGER_CURRENCY,
  ownedAccountSchema,
  pageSchema,
  type HoldInput,
  type OwnedAccountInput,
  type PageInput,
  type PostInput,
  type ReverseInput,
  type TransferInput,
  type VoidInput,
} from './validation.ts';
import { LRUCache } from 'lru-cache';

export interface LedgerOptions {
  /** How far a driver wallet may go below zero for commission on cash trips, in minor units (default 0). */
  driverDebtLimitMinor?: bigint;
  /** Most transfers in one transaction (default 1,000). */
  maxBatchSize?: number;
  /** Batches applied at once by this process (default 2: one is written while the next is prepared). */
  maxBatchesInFlight?: number;
  /** How long idempotency keys are kept, at least 24 h (default 24 h). */
  keyRetentionMs?: number;
}

/** Owned account ids a ledger remembers (about 100 bytes each): the riders booking within a while. */
const OWNED_IDS_REMEMBERED = 100_000;

export class Ledger {
  readonly #repository: LedgerRepository;
  readonly #batcher: Batcher<TransferCommand, Outcome>;
  readonly #driverDebtLimit: bigint;
  readonly #keyRetentionMs: number;
  /** System account ids by `kind:currency` (they never change once opened). */
  readonly #systemIds = new Map<string, Promise<string>>();
  /** The same ids once known, for transactions (which never open one they would roll back). */
  readonly #knownSystemIds = new Map<string, string>();
  /** Owned account ids by `kind:owner:currency`, as read (an account keeps its id for good). */
  readonly #ownedIds = new LRUCache<string, string>({ max: OWNED_IDS_REMEMBERED });

  constructor(db: { fork(): EntityManager }, options: LedgerOptions = {}) {
    this.#repository = new LedgerRepository(db);
    this.#driverDebtLimit = options.driverDebtLimitMinor ?? 0n;
    if (this.#driverDebtLimit < 0n) throw new Error('driverDebtLimitMinor must not be negative');
    this.#keyRetentionMs = options.keyRetentionMs ?? MIN_KEY_RETENTION_MS;
    if (this.#keyRetentionMs < MIN_KEY_RETENTION_MS) throw new Error('idempotency keys are kept at least 24 hours');
    this.#batcher = new Batcher((commands) => applyBatch(this.#repository, commands), { maxBatchSize: options.maxBatchSize ?? 1_000, maxInFlight: options.maxBatchesInFlight ?? 2 });
  }

  // ── accounts ──────────────────────────────────────────────────────────────────────────────────

  /** The owner's account of this kind and currency, opened on first use (idempotent, safe under races). */
  async openAccount(input: OwnedAccountInput): Promise<Account> {
    const { kind, ownerId, currency } = parseInput(ownedAccountSchema, input);
    return this.#open(kind, ownerId, currency);
  }

  /** The platform's account of this kind and currency, opened on first use. */
  async systemAccount(kind: SystemAccountKind, currency: string = LEDGER_CURRENCY): Promise<Account> {
    parseInput(accountKindSchema, kind);
    return this.#open(kind, null, parseInput(currencySchema, currency));
  }

  /** A system account's id, remembered by this instance. */
  systemAccountId(kind: SystemAccountKind, currency: string = LEDGER_CURRENCY): Promise<string> {
    const cacheKey = `${kind}:${currency}`;
    let id = this.#systemIds.get(cacheKey);
    if (!id) {
      id = this.systemAccount(kind, currency).then((account) => {
        this.#knownSystemIds.set(cacheKey, account.id);
        return account.id;
      });
      id.catch(() => this.#systemIds.delete(cacheKey));
      this.#systemIds.set(cacheKey, id);
    }
    return id;
  }

  async #open(kind: AccountKind, ownerId: string | null, currency: string): Promise<Account> {
    const existing = await this.#repository.findAccount(kind, ownerId, currency);
    if (existing) return existing;
    const inserted = await this.#repository.insertAccount({ id: randomUUID(), kind, ownerId, currency, ...balanceRuleOf(kind, this.#driverDebtLimit) });
    // Null: a concurrent caller opened it between the two statements; it is there now.
    return inserted ?? (await this.#repository.findAccount(kind, ownerId, currency))!;
  }

  async findAccount(kind: AccountKind, ownerId: string | null, currency: string = LEDGER_CURRENCY): Promise<Account | null> {
    return this.#repository.findAccount(parseInput(accountKindSchema, kind), ownerId, parseInput(currencySchema, currency));
  }

  async account(id: string): Promise<Account> {
    const [account] = await this.#repository.accountsByIds([parseInput(accountIdSchema, id)]);
    if (!account) throw notFound('The account');
    return account;
  }

  /** Accounts by id, in one statement (unknown ids are left out). */
  async accounts(ids: readonly string[]): Promise<Account[]> {
    return this.#repository.accountsByIds(ids.map((id) => parseInput(accountIdSchema, id)));
  }

  async balance(accountId: string): Promise<Balance> {
    return balanceOf(await this.account(accountId));
  }

  /**
   * Sets the debit limit of an owner's account (a partner's credit limit), opening the account first.
   * Null when the account already owes and holds more than `limit` (the limit is left as it was).
   */
  async setDebitLimit(account: OwnedAccountInput, limit: bigint): Promise<{ before: Account; after: Account | null }> {
    if (limit < 0n) throw badUserInput('The limit must not be negative.', { limit: 'must not be negative' });
    const before = await this.openAccount(account);
    return { before, after: await this.#repository.setDebitLimit(before.id, limit) };
  }

  /** An account's transfers applied in [from, to), oldest first, with their accounts' kinds and owners (at most `limit`). */
  async transfersBetween(accountId: string, from: Date, to: Date, limit = 10_000): Promise<TransferWithParties[]> {
    return this.#repository.transfersOfAccountBetween(parseInput(accountIdSchema, accountId), from, to, limit);
  }

  // ── money ─────────────────────────────────────────────────────────────────────────────────────

  /** Moves `amount` from the debit account to the credit account, posted at once. */
  async transfer(input: TransferInput): Promise<Transfer> {
    return this.#submit(commandOf({ op: 'transfer', input }));
  }

  /** A pending transfer: the amount is held (it counts against the debit account's available balance) until posted or voided. */
  async hold(input: HoldInput): Promise<Transfer> {
    return this.#submit(commandOf({ op: 'hold', input }));
  }

  /** Posts a pending transfer, whole (default) or in part; the rest of the hold is released. */
  async post(input: PostInput): Promise<Transfer> {
    return this.#submit(commandOf({ op: 'post', input }));
  }

  /** Voids a pending transfer: the whole hold is released. */
  async void(input: VoidInput): Promise<Transfer> {
    return this.#submit(commandOf({ op: 'void', input }));
  }

  /** Sends a posted transfer back, whole (default: what is left of it) or in part: the correction of a transfer, as a new transfer. */
  async reverse(input: ReverseInput): Promise<Transfer> {
    return this.#submit(commandOf({ op: 'reverse', input }));
  }

  /**
   * The ledger inside the caller's transaction (`em` must be in one): what it applies commits or rolls
   * back with the caller's own writes. Its batches are its own, not shared with other callers.
   */
  within(em: EntityManager): LedgerTransaction {
    if (!em.isInTransaction()) throw new Error('Ledger.within needs an EntityManager inside a transaction');
    return this.#transactionOn((sql, params = []) => executeStatement(em, sql, params));
  }

  /**
   * Runs `work` in a transaction of its own: several dependent calls applied all or none (a refund and its
   * funding). `run` runs the caller's own statements in the same transaction (a deposit's intent marked
   * paid with its transfer).
   */
  transaction<T>(work: (tx: LedgerTransaction, run: RunStatement) => Promise<T>): Promise<T> {
    return this.#repository.transaction((run) => work(this.#transactionOn(run), run));
  }

  #transactionOn(run: ConstructorParameters<typeof LedgerTransaction>[1]): LedgerTransaction {
    return new LedgerTransaction(this.#repository, run, { driverDebtLimit: this.#driverDebtLimit, knownSystemAccount: (kind, currency) => this.#knownSystemIds.get(`${kind}:${currency}`) });
  }

  /**
   * Applies one call (through the batcher, as the methods above do) and answers its outcome as the batch
   * decided it: the transfer, `replayed` when the call did not make it (its key had), or the refusal.
   * Throws for input the call cannot be made of (BAD_USER_INPUT) and when the database fails.
   */
  async apply(call: LedgerCall): Promise<Outcome> {
    return this.#batcher.submit(commandOf(call));
  }

  async #submit(command: TransferCommand): Promise<Transfer> {
    const outcome = await this.#batcher.submit(command);
    if ('error' in outcome) throw outcome.error;
    return outcome.transfer;
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────────

  async transferById(id: string): Promise<Transfer> {
    const [transfer] = await this.#repository.transfersByIds([parseInput(accountIdSchema, id)]);
    if (!transfer) throw notFound('The transfer');
    return transfer;
  }

  /** An account's transfers, newest first (order of application), as a Relay connection with opaque keyset cursors. */
  async transfers(accountId: string, page: PageInput = {}): Promise<Connection<Transfer>> {
    const { first, after } = parseInput(pageSchema, page);
    const cursor = decodeCursor(after);
    if (cursor && !/^\d{1,19}$/.test(cursor.id)) throw badUserInput('The cursor is not valid.', { after: 'is not a cursor from this list' });
    const rows = await this.#repository.transfersOfAccount(parseInput(accountIdSchema, accountId), cursor ? BigInt(cursor.id) : null, first + 1);
    // The keyset is `seq`; the cursor carries the row's time too, as every cursor of the API does.
    return toConnection(rows, first, (transfer) => ({ at: transfer.createdAt, id: String(transfer.seq) }));
  }

  /** The accounts of these kinds these owners have (one statement; none is opened). */
  async accountsOfOwners(ownerIds: readonly string[], kinds: readonly AccountKind[]): Promise<Account[]> {
    return this.#repository.accountsOfOwners(ownerIds.map((id) => parseInput(accountIdSchema, id)), kinds.map((kind) => parseInput(accountKindSchema, kind)));
  }

  /**
   * The ids of these owners' accounts of one kind, by `owner:currency` (owner ids lower-case): remembered
   * once read, so a rider's next booking names their wallet without a statement; the ones not yet known
   * are read in one. Owners without such an account are left out (none is opened).
   */
  async accountIdsOfOwners(kind: AccountKind, owners: ReadonlyArray<{ ownerId: string; currency: string }>): Promise<Map<string, string>> {
    const wanted = new Set(owners.map(({ ownerId, currency }) => `${ownerId.toLowerCase()}:${currency}`));
    const found = new Map<string, string>();
    const missing = new Set<string>();
    for (const owner of wanted) {
      const id = this.#ownedIds.get(`${kind}:${owner}`);
      if (id === undefined) missing.add(owner.slice(0, owner.indexOf(':')));
      else found.set(owner, id);
    }
    if (missing.size === 0) return found;
    for (const account of await this.accountsOfOwners([...missing], [kind])) {
      const owner = `${account.ownerId!.toLowerCase()}:${account.currency}`;
      this.#ownedIds.set(`${kind}:${owner}`, account.id);
      if (wanted.has(owner)) found.set(owner, account.id);
    }
    return found;
  }

  /** Every transfer about these references (trip ids, ...), oldest first, with its accounts' kinds and owners: one statement. */
  async transfersByReferences(references: readonly string[]): Promise<TransferWithParties[]> {
    return this.#repository.transfersByReferences(references);
  }

  /** The transfers of `codes` on either side of `accountIds` applied in [from, to), summed per code, side and kind. */
  async codeTotals(accountIds: readonly string[], codes: readonly string[], from: Date, to: Date): Promise<CodeTotal[]> {
    return this.#repository.codeTotals(accountIds.map((id) => parseInput(accountIdSchema, id)), codes, from, to);
  }

  /** Proves the ledger balanced, or lists every discrepancy (ledger-wide totals, each account's counters against its transfers, keys without their transfer). */
  async checkBalanced(): Promise<LedgerCheck> {
    const { totals, mismatches, orphanKeys } = await this.#repository.checkRows();
    return ledgerCheck(totals, mismatches, orphanKeys);
  }

  /** Deletes idempotency keys older than the retention (at least 24 h); answers how many. */
  purgeIdempotencyKeys(now: Date = new Date()): Promise<number> {
    return this.#repository.purgeKeys(new Date(now.getTime() - this.#keyRetentionMs));
  }

  /** Refuses new calls and waits for those already submitted. */
  close(): Promise<void> {
    return this.#batcher.close();
  }
}
