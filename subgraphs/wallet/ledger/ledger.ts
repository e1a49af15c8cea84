/**
 * The wallet's double-entry ledger: accounts, immutable transfers, two-phase holds, reversals, balances,
 * an account's history and the balance check. Every money-moving call is validated here (the edge),
 * carries an idempotency key and goes through the batcher, which applies calls arriving together in
 * one transaction (batch.ts). One instance per process; any number of processes may share a database.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '../../../platform/db.ts';
import { badUserInput, notFound } from '../../../platform/errors.ts';
import { decodeCursor, toConnection, type Connection } from '../../../platform/pagination.ts';
import { parseInput } from '../../../platform/validation.ts';
import { balanceOf, balanceRuleOf, type Account, type AccountKind, type Balance, type SystemAccountKind } from './accounts.ts';
import { applyBatch, type Outcome } from './batch.ts';
import { Batcher } from './batcher.ts';
import { ledgerCheck, type LedgerCheck } from './check.ts';
import { MIN_KEY_RETENTION_MS, requestHash } from './idempotency.ts';
import { LedgerRepository } from './ledger-repository.ts';
import type { Transfer, TransferCommand } from './transfers.ts';
import {
  accountIdSchema,
  accountKindSchema,
  currencySchema,
  holdSchema,
  LEDGER_CURRENCY,
  ownedAccountSchema,
  pageSchema,
  postSchema,
  reverseSchema,
  transferSchema,
  voidSchema,
  type HoldInput,
  type OwnedAccountInput,
  type PageInput,
  type PostInput,
  type ReverseInput,
  type TransferInput,
  type VoidInput,
} from './validation.ts';

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

export class Ledger {
  readonly #repository: LedgerRepository;
  readonly #batcher: Batcher<TransferCommand, Outcome>;
  readonly #driverDebtLimit: bigint;
  readonly #keyRetentionMs: number;
  /** System account ids by `kind:currency` (they never change once opened). */
  readonly #systemIds = new Map<string, Promise<string>>();

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
      id = this.systemAccount(kind, currency).then((account) => account.id);
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

  // ── money ─────────────────────────────────────────────────────────────────────────────────────

  /** Moves `amount` from the debit account to the credit account, posted at once. */
  async transfer(input: TransferInput): Promise<Transfer> {
    const { idempotencyKey, ...parameters } = parseInput(transferSchema, input);
    return this.#submit({ op: 'transfer', key: idempotencyKey, hash: requestHash('transfer', parameters), id: randomUUID(), ...parameters, expiresAt: null });
  }

  /** A pending transfer: the amount is held (it counts against the debit account's available balance) until posted or voided. */
  async hold(input: HoldInput): Promise<Transfer> {
    const { idempotencyKey, timeoutMs, ...parameters } = parseInput(holdSchema, input);
    const expiresAt = timeoutMs === null ? null : new Date(Date.now() + timeoutMs);
    return this.#submit({ op: 'hold', key: idempotencyKey, hash: requestHash('hold', { ...parameters, timeoutMs }), id: randomUUID(), ...parameters, expiresAt });
  }

  /** Posts a pending transfer, whole (default) or in part; the rest of the hold is released. */
  async post(input: PostInput): Promise<Transfer> {
    const { idempotencyKey, ...parameters } = parseInput(postSchema, input);
    return this.#submit({ op: 'post', key: idempotencyKey, hash: requestHash('post', parameters), id: randomUUID(), ...parameters });
  }

  /** Voids a pending transfer: the whole hold is released. */
  async void(input: VoidInput): Promise<Transfer> {
    const { idempotencyKey, ...parameters } = parseInput(voidSchema, input);
    return this.#submit({ op: 'void', key: idempotencyKey, hash: requestHash('void', parameters), id: randomUUID(), ...parameters });
  }

  /** Sends a posted transfer back, whole (default: what is left of it) or in part: the correction of a transfer, as a new transfer. */
  async reverse(input: ReverseInput): Promise<Transfer> {
    const { idempotencyKey, ...parameters } = parseInput(reverseSchema, input);
    return this.#submit({ op: 'reverse', key: idempotencyKey, hash: requestHash('reverse', parameters), id: randomUUID(), ...parameters });
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
