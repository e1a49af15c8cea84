/**
 * Every SQL statement of the ledger. Bigints are read as text (PGlite answers a bigint as a JS number,
 * which loses precision past 2^53) and arrays travel as array literals (sql-session.ts).
 */
import { arrayLiteral, type EntityManager } from '../../../platform/db.ts';
import type { Account, AccountKind, BalanceRule, Counters } from './accounts.ts';
import { inTransaction, statementsOf, type Row, type RunStatement } from './sql-session.ts';
import type { LockedAccount, NewTransfer, ReferencedTransfer, Transfer, TransferKind } from './transfers.ts';

const ACCOUNTS = '"wallet"."ledger_accounts"';
const TRANSFERS = '"wallet"."ledger_transfers"';
const KEYS = '"wallet"."ledger_idempotency_keys"';

const ACCOUNT_COLUMNS = `"id", "kind", "owner_id", "currency", "balance_rule", "debit_limit"::text, "debits_pending"::text, "debits_posted"::text, "credits_pending"::text, "credits_posted"::text, "created_at"`;
const transferColumns = (alias: string) =>
  ['id', 'kind', 'debit_account_id', 'credit_account_id', 'currency', 'code', 'reference', 'pending_id', 'reversal_of', 'expires_at', 'created_at'].map((column) => `${alias}."${column}"`).join(', ') +
  `, ${alias}."seq"::text as "seq", ${alias}."amount"::text as "amount", ${alias}."user_data"::text as "user_data"`;

/** An account to open: what it is and the rule it carries. */
export interface NewAccount {
  id: string;
  kind: AccountKind;
  ownerId: string | null;
  currency: string;
  balanceRule: BalanceRule;
  debitLimit: bigint;
}

/** A stored idempotency key: the digest of the call that claimed it and the transfer it made. */
export interface StoredKey {
  key: string;
  hash: string;
  transferId: string;
}

/** A transfer with the kind and owner of each of its accounts (who paid whom, without a second read). */
export interface TransferWithParties extends Transfer {
  debitAccount: { kind: AccountKind; ownerId: string | null };
  creditAccount: { kind: AccountKind; ownerId: string | null };
}

/** Transfers of one code on one side of a set of accounts, summed. */
export interface CodeTotal {
  code: string;
  /** The accounts' side: DEBIT when money left them. */
  side: 'DEBIT' | 'CREDIT';
  kind: TransferKind;
  count: number;
  amount: bigint;
  /** Sum of the transfers' userData (those without count 0). */
  userData: bigint;
}

/** Applies a batch's statements: in a transaction of its own (the repository), or in the caller's (`within`). */
export interface BatchRunner {
  batch<T>(work: (statements: BatchStatements) => Promise<T>): Promise<T>;
}

/** One account's counters as stored next to the same counters summed from its transfers. */
export interface CounterRow {
  accountId: string;
  stored: Counters;
  fromTransfers: Counters;
}

export class LedgerRepository implements BatchRunner {
  readonly #db: { fork(): EntityManager };

  /** Statements on their own, outside any transaction (`statementsOf`). */
  readonly #run: RunStatement;

  constructor(db: { fork(): EntityManager }) {
    this.#db = db;
    this.#run = statementsOf(db);
  }

  /** Batches whose statements run in the caller's transaction (`run`), which commits or rolls them back with its own work. */
  within(run: RunStatement): BatchRunner {
    return { batch: (work) => work(new BatchStatements(run, this)) };
  }

  /** Inserts an account unless one of its kind, owner and currency exists; null when it did. */
  async insertAccount(account: NewAccount, run: RunStatement = this.#run): Promise<Account | null> {
    const [row] = await run(
      `insert into ${ACCOUNTS} ("id", "kind", "owner_id", "currency", "balance_rule", "debit_limit") values (?, ?, ?, ?, ?, ?)
       on conflict on constraint "ledger_accounts_kind_owner_currency_unique" do nothing returning ${ACCOUNT_COLUMNS}`,
      [account.id, account.kind, account.ownerId, account.currency, account.balanceRule, String(account.debitLimit)],
    );
    return row ? accountFromRow(row) : null;
  }

  /**
   * Inserts the accounts none of whose kind, owner and currency exists yet (one statement), then reads
   * every one asked for (a second): the accounts in the order asked, whoever opened them.
   */
  async ensureAccounts(accounts: readonly NewAccount[], run: RunStatement = this.#run): Promise<Account[]> {
    if (accounts.length === 0) return [];
    const column = <K extends keyof NewAccount>(key: K) => arrayLiteral(accounts.map((account) => account[key] as string | bigint | null));
    await run(
      `insert into ${ACCOUNTS} ("id", "kind", "owner_id", "currency", "balance_rule", "debit_limit")
       select a."id", a."kind", a."owner_id", a."currency", a."balance_rule", a."debit_limit"
       from unnest(?::uuid[], ?::text[], ?::uuid[], ?::text[], ?::text[], ?::bigint[]) as a("id", "kind", "owner_id", "currency", "balance_rule", "debit_limit")
       order by a."kind", a."owner_id"
       on conflict on constraint "ledger_accounts_kind_owner_currency_unique" do nothing`,
      [column('id'), column('kind'), column('ownerId'), column('currency'), column('balanceRule'), column('debitLimit')],
    );
    const rows = await run(
      `select ${ACCOUNT_COLUMNS.split(', ').map((c) => `a.${c}`).join(', ')} from ${ACCOUNTS} as a
       join unnest(?::text[], ?::uuid[], ?::text[]) as w("kind", "owner_id", "currency")
         on a."kind" = w."kind" and a."owner_id" is not distinct from w."owner_id" and a."currency" = w."currency"`,
      [column('kind'), column('ownerId'), column('currency')],
    );
    const found = new Map(rows.map(accountFromRow).map((account) => [`${account.kind}:${account.ownerId}:${account.currency}`, account]));
    return accounts.map((account) => {
      const opened = found.get(`${account.kind}:${account.ownerId}:${account.currency}`);
      if (!opened) throw new Error(`account ${account.kind} of ${account.ownerId} was neither opened nor found`);
      return opened;
    });
  }

  async findAccount(kind: AccountKind, ownerId: string | null, currency: string, run: RunStatement = this.#run): Promise<Account | null> {
    const [row] =
      ownerId === null
        ? await run(`select ${ACCOUNT_COLUMNS} from ${ACCOUNTS} where "kind" = ? and "owner_id" is null and "currency" = ?`, [kind, currency])
        : await run(`select ${ACCOUNT_COLUMNS} from ${ACCOUNTS} where "kind" = ? and "owner_id" = ? and "currency" = ?`, [kind, ownerId, currency]);
    return row ? accountFromRow(row) : null;
  }

  /** Locks one account's row until the caller's transaction ends (the lock a batch takes) and answers it. */
  async lockAccount(id: string, run: RunStatement): Promise<Account | null> {
    const [row] = await run(`select ${ACCOUNT_COLUMNS} from ${ACCOUNTS} where "id" = ? for no key update`, [id]);
    return row ? accountFromRow(row) : null;
  }

  /** The accounts of these kinds that these owners have, in one statement. */
  async accountsOfOwners(ownerIds: readonly string[], kinds: readonly AccountKind[], run: RunStatement = this.#run): Promise<Account[]> {
    if (ownerIds.length === 0 || kinds.length === 0) return [];
    const rows = await run(`select ${ACCOUNT_COLUMNS} from ${ACCOUNTS} where "owner_id" = any(?::uuid[]) and "kind" = any(?::text[])`, [arrayLiteral(ownerIds), arrayLiteral(kinds)]);
    return rows.map(accountFromRow);
  }

  /** Every transfer whose reference is one of `references`, oldest first, with its accounts' kinds and owners: one statement. */
  async transfersByReferences(references: readonly string[], run: RunStatement = this.#run): Promise<TransferWithParties[]> {
    if (references.length === 0) return [];
    const rows = await run(
      `select ${transferColumns('t')}, d."kind" as "debit_kind", d."owner_id" as "debit_owner_id", c."kind" as "credit_kind", c."owner_id" as "credit_owner_id"
       from ${TRANSFERS} as t join ${ACCOUNTS} as d on d."id" = t."debit_account_id" join ${ACCOUNTS} as c on c."id" = t."credit_account_id"
       where t."reference" = any(?::text[]) order by t."seq"`,
      [arrayLiteral(references)],
    );
    return rows.map((row) => ({
      ...transferFromRow(row),
      debitAccount: { kind: row.debit_kind as AccountKind, ownerId: (row.debit_owner_id as string | null) ?? null },
      creditAccount: { kind: row.credit_kind as AccountKind, ownerId: (row.credit_owner_id as string | null) ?? null },
    }));
  }

  /**
   * The transfers of `codes` on either side of `accountIds` applied in [from, to), summed per code, side
   * and kind: one statement (an account's transfers are read through its per-side index).
   */
  async codeTotals(accountIds: readonly string[], codes: readonly string[], from: Date, to: Date, run: RunStatement = this.#run): Promise<CodeTotal[]> {
    if (accountIds.length === 0 || codes.length === 0) return [];
    const accounts = arrayLiteral(accountIds);
    const rows = await run(
      `select "code", "side", "kind", count(*)::int as "count", sum("amount")::text as "amount", coalesce(sum("user_data"), 0)::text as "user_data" from (
         select "code", 'DEBIT' as "side", "kind", "amount", "user_data" from ${TRANSFERS}
         where "debit_account_id" = any(?::uuid[]) and "code" = any(?::text[]) and "created_at" >= ? and "created_at" < ?
         union all
         select "code", 'CREDIT', "kind", "amount", "user_data" from ${TRANSFERS}
         where "credit_account_id" = any(?::uuid[]) and "code" = any(?::text[]) and "created_at" >= ? and "created_at" < ?
       ) as t group by "code", "side", "kind"`,
      [accounts, arrayLiteral(codes), from.toISOString(), to.toISOString(), accounts, arrayLiteral(codes), from.toISOString(), to.toISOString()],
    );
    return rows.map((row) => ({ code: row.code as string, side: row.side as 'DEBIT' | 'CREDIT', kind: row.kind as TransferKind, count: Number(row.count), amount: BigInt(row.amount as string), userData: BigInt(row.user_data as string) }));
  }

  async accountsByIds(ids: readonly string[]): Promise<Account[]> {
    if (ids.length === 0) return [];
    const rows = await this.#run(`select ${ACCOUNT_COLUMNS} from ${ACCOUNTS} where "id" = any(?::uuid[])`, [arrayLiteral(ids)]);
    return rows.map(accountFromRow);
  }

  async transfersByIds(ids: readonly string[], run: RunStatement = this.#run): Promise<Transfer[]> {
    if (ids.length === 0) return [];
    const rows = await run(`select ${transferColumns('t')} from ${TRANSFERS} as t where t."id" = any(?::uuid[])`, [arrayLiteral(ids)]);
    return rows.map(transferFromRow);
  }

  /**
   * An account's transfers, newest first, those applied before `beforeSeq` (keyset, never OFFSET): the
   * merge of one index scan per side, each stopped after `limit` rows.
   */
  /**
   * Sets an account's debit limit (a partner's credit limit), unless what the account already owes and
   * holds would then pass it: null in that case (the CHECK constraint would refuse it anyway). The UPDATE
   * takes the row lock the ledger's batches take, so no transfer slips between the test and the write.
   */
  async setDebitLimit(accountId: string, limit: bigint): Promise<Account | null> {
    const [row] = await this.#run(
      `update ${ACCOUNTS} set "debit_limit" = ?::bigint where "id" = ? and ("balance_rule" = 'NONE' or "debits_pending" + "debits_posted" <= "credits_posted" + ?::bigint)
       returning ${ACCOUNT_COLUMNS}`,
      [String(limit), accountId, String(limit)],
    );
    return row ? accountFromRow(row) : null;
  }

  /** Every transfer on either side of the account applied in [from, to), oldest first (at most `limit`). */
  async transfersOfAccountBetween(accountId: string, from: Date, to: Date, limit: number): Promise<TransferWithParties[]> {
    const rows = await this.#run(
      `select ${transferColumns('t')}, d."kind" as "debit_kind", d."owner_id" as "debit_owner_id", c."kind" as "credit_kind", c."owner_id" as "credit_owner_id"
       from ${TRANSFERS} t join ${ACCOUNTS} d on d."id" = t."debit_account_id" join ${ACCOUNTS} c on c."id" = t."credit_account_id"
       where (t."debit_account_id" = ? or t."credit_account_id" = ?) and t."created_at" >= ? and t."created_at" < ?
       order by t."seq" limit ?`,
      [accountId, accountId, from.toISOString(), to.toISOString(), limit],
    );
    return rows.map((row) => ({
      ...transferFromRow(row),
      debitAccount: { kind: row.debit_kind as AccountKind, ownerId: (row.debit_owner_id as string | null) ?? null },
      creditAccount: { kind: row.credit_kind as AccountKind, ownerId: (row.credit_owner_id as string | null) ?? null },
    }));
  }

  async transfersOfAccount(accountId: string, beforeSeq: bigint | null, limit: number): Promise<Transfer[]> {
    const before = String(beforeSeq ?? 2n ** 63n - 1n);
    const rows = await this.#run(
      `select ${transferColumns('page')} from (
         (select * from ${TRANSFERS} where "debit_account_id" = ? and "seq" < ? order by "seq" desc limit ?)
         union all
         (select * from ${TRANSFERS} where "credit_account_id" = ? and "seq" < ? order by "seq" desc limit ?)
       ) as page order by page."seq" desc limit ?`,
      [accountId, before, limit, accountId, before, limit, limit],
    );
    return rows.map(transferFromRow);
  }

  /**
   * Ledger-wide totals, every account whose stored counters differ from the sums of its transfers, and
   * idempotency keys naming a transfer that does not exist (the first 100), all read from one snapshot
   * (a repeatable-read transaction), so a check during traffic is exact.
   */
  async checkRows(): Promise<{ totals: Counters; mismatches: CounterRow[]; orphanKeys: StoredKey[] }> {
    return inTransaction(this.#db.fork(), async (run) => {
      await run('set transaction isolation level repeatable read, read only');
      const [totals] = await run(
        `select coalesce(sum("debits_pending"), 0)::text as "debits_pending", coalesce(sum("debits_posted"), 0)::text as "debits_posted",
                coalesce(sum("credits_pending"), 0)::text as "credits_pending", coalesce(sum("credits_posted"), 0)::text as "credits_posted"
         from ${ACCOUNTS}`,
      );
      // What each transfer does to its accounts: a post or void releases the whole pending amount.
      const rows = await run(
        `with "effects" as (
           select t."debit_account_id" as "account_id",
             case when t."kind" = 'PENDING' then t."amount" when t."kind" = 'SINGLE' then 0 else -p."amount" end as "debits_pending",
             case when t."kind" in ('SINGLE', 'POST_PENDING') then t."amount" else 0 end as "debits_posted",
             0::bigint as "credits_pending", 0::bigint as "credits_posted"
           from ${TRANSFERS} as t left join ${TRANSFERS} as p on p."id" = t."pending_id"
           union all
           select t."credit_account_id", 0, 0,
             case when t."kind" = 'PENDING' then t."amount" when t."kind" = 'SINGLE' then 0 else -p."amount" end,
             case when t."kind" in ('SINGLE', 'POST_PENDING') then t."amount" else 0 end
           from ${TRANSFERS} as t left join ${TRANSFERS} as p on p."id" = t."pending_id"
         ), "sums" as (
           select "account_id", sum("debits_pending") as "debits_pending", sum("debits_posted") as "debits_posted", sum("credits_pending") as "credits_pending", sum("credits_posted") as "credits_posted"
           from "effects" group by "account_id"
         )
         select a."id",
           a."debits_pending"::text, a."debits_posted"::text, a."credits_pending"::text, a."credits_posted"::text,
           coalesce(s."debits_pending", 0)::text as "sum_debits_pending", coalesce(s."debits_posted", 0)::text as "sum_debits_posted",
           coalesce(s."credits_pending", 0)::text as "sum_credits_pending", coalesce(s."credits_posted", 0)::text as "sum_credits_posted"
         from ${ACCOUNTS} as a left join "sums" as s on s."account_id" = a."id"
         where a."debits_pending" <> coalesce(s."debits_pending", 0) or a."debits_posted" <> coalesce(s."debits_posted", 0)
            or a."credits_pending" <> coalesce(s."credits_pending", 0) or a."credits_posted" <> coalesce(s."credits_posted", 0)
         order by a."id"`,
      );
      const orphans = await run(`select k."key", k."request_hash", k."transfer_id" from ${KEYS} as k where not exists (select 1 from ${TRANSFERS} as t where t."id" = k."transfer_id") order by k."key" limit 100`);
      return {
        orphanKeys: orphans.map(storedKeyFromRow),
        totals: countersOf(totals!),
        mismatches: rows.map((row) => ({ accountId: row.id as string, stored: countersOf(row), fromTransfers: countersOf(row, 'sum_') })),
      };
    });
  }

  /** Deletes idempotency keys created before `before`, in chunks (no long lock on a big table); answers how many. */
  async purgeKeys(before: Date, chunk = 10_000): Promise<number> {
    let purged = 0;
    for (;;) {
      const rows = await this.#run(`delete from ${KEYS} where "key" in (select "key" from ${KEYS} where "created_at" < ? limit ?) returning 1 as "purged"`, [before.toISOString(), chunk]);
      purged += rows.length;
      if (rows.length < chunk) return purged;
    }
  }

  /** Runs `work` in one transaction with the statements of a batch. */
  batch<T>(work: (statements: BatchStatements) => Promise<T>): Promise<T> {
    return inTransaction(this.#db.fork(), (run) => work(new BatchStatements(run, this)));
  }

  /** Runs `work` in one transaction of its own with its statements (`run`). */
  transaction<T>(work: (run: RunStatement) => Promise<T>): Promise<T> {
    return inTransaction(this.#db.fork(), work);
  }
}

/** The statements of one batch, in the order a batch runs them. */
export class BatchStatements {
  readonly #run: RunStatement;
  readonly #repository: LedgerRepository;

  constructor(run: RunStatement, repository: LedgerRepository) {
    this.#run = run;
    this.#repository = repository;
  }

  /**
   * Claims idempotency keys, in key order (two batches claiming the same keys wait for each other in one
   * order, never in a cycle). Answers the keys claimed now; a key already stored, or stored meanwhile by a
   * concurrent batch (this insert waits for it to end), is not among them.
   */
  async claimKeys(keys: readonly StoredKey[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const sorted = [...keys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const rows = await this.#run<{ key: string }>(
      `insert into ${KEYS} ("key", "request_hash", "transfer_id")
       select k."key", k."request_hash", k."transfer_id" from unnest(?::text[], ?::text[], ?::uuid[]) with ordinality as k("key", "request_hash", "transfer_id", "n") order by k."n"
       on conflict ("key") do nothing returning "key"`,
      [arrayLiteral(sorted.map((k) => k.key)), arrayLiteral(sorted.map((k) => k.hash)), arrayLiteral(sorted.map((k) => k.transferId))],
    );
    return new Set(rows.map((row) => row.key));
  }

  async storedKeys(keys: readonly string[]): Promise<StoredKey[]> {
    const rows = await this.#run(`select "key", "request_hash", "transfer_id" from ${KEYS} where "key" = any(?::text[])`, [arrayLiteral(keys)]);
    return rows.map(storedKeyFromRow);
  }

  transfersByIds(ids: readonly string[]): Promise<Transfer[]> {
    return this.#repository.transfersByIds(ids, this.#run);
  }

  /**
   * Locks, in id order, the accounts named and those of the transfers referred to (a post's pending
   * transfer, a reversal's original). `for no key update` is the lock an UPDATE of the counters takes:
   * it excludes every other writer of the row but not the foreign-key checks of transfers being inserted.
   */
  async lockAccounts(accountIds: readonly string[], referencedIds: readonly string[]): Promise<Map<string, LockedAccount>> {
    const referenced = arrayLiteral(referencedIds);
    const rows = await this.#run(
      `select ${ACCOUNT_COLUMNS} from ${ACCOUNTS}
       where "id" in (select unnest(?::uuid[]) union select "debit_account_id" from ${TRANSFERS} where "id" = any(?::uuid[]) union select "credit_account_id" from ${TRANSFERS} where "id" = any(?::uuid[]))
       order by "id" for no key update`,
      [arrayLiteral(accountIds), referenced, referenced],
    );
    return new Map(rows.map((row) => [row.id as string, accountFromRow(row)]));
  }

  /** The transfers referred to, with whether each pending one is resolved and how much of each was reversed (read under the accounts' locks). */
  async referencedTransfers(ids: readonly string[]): Promise<Map<string, ReferencedTransfer>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#run(
      `select ${transferColumns('t')},
         (select r."kind" from ${TRANSFERS} as r where r."pending_id" = t."id") as "resolved_by",
         (select coalesce(sum(r."amount"), 0) from ${TRANSFERS} as r where r."reversal_of" = t."id")::text as "reversed"
       from ${TRANSFERS} as t where t."id" = any(?::uuid[])`,
      [arrayLiteral(ids)],
    );
    return new Map(rows.map((row) => [row.id as string, { ...transferFromRow(row), resolvedBy: (row.resolved_by as TransferKind | null) ?? null, reversed: BigInt(row.reversed as string) }]));
  }

  /**
   * Writes a batch in one statement: the accepted transfers (one insert of arrays, in order), each
   * touched account's counters moved by its net delta (one update), and the keys of refused commands
   * released (a refusal leaves nothing behind, not even its key). Answers each new transfer's seq and time.
   */
  async apply(transfers: readonly NewTransfer[], deltas: ReadonlyMap<string, Counters>, releasedKeys: readonly string[]): Promise<Map<string, { seq: bigint; createdAt: Date }>> {
    if (transfers.length === 0 && deltas.size === 0 && releasedKeys.length === 0) return new Map();
    const column = <K extends keyof NewTransfer>(key: K) => arrayLiteral(transfers.map((t) => (t[key] instanceof Date ? (t[key] as Date).toISOString() : (t[key] as string | bigint | null))));
    // An imported transfer keeps the time it happened; the others get the transaction's, as a default would.
    const accounts = [...deltas].sort(([a], [b]) => (a < b ? -1 : 1));
    const delta = (counter: keyof Counters) => arrayLiteral(accounts.map(([, d]) => d[counter]));
    const rows = await this.#run(
      `with "inserted" as (
         insert into ${TRANSFERS} ("id", "kind", "debit_account_id", "credit_account_id", "amount", "currency", "code", "reference", "pending_id", "reversal_of", "expires_at", "user_data", "created_at")
         select t."id", t."kind", t."debit_account_id", t."credit_account_id", t."amount", t."currency", t."code", t."reference", t."pending_id", t."reversal_of", t."expires_at", t."user_data", coalesce(t."imported_at", now())
         from unnest(?::uuid[], ?::text[], ?::uuid[], ?::uuid[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::uuid[], ?::uuid[], ?::timestamptz[], ?::bigint[], ?::timestamptz[])
           with ordinality as t("id", "kind", "debit_account_id", "credit_account_id", "amount", "currency", "code", "reference", "pending_id", "reversal_of", "expires_at", "user_data", "imported_at", "n")
         order by t."n"
         returning "id", "seq"::text as "seq", "created_at"
       ), "counted" as (
         update ${ACCOUNTS} as a set
           "debits_pending" = a."debits_pending" + d."debits_pending", "debits_posted" = a."debits_posted" + d."debits_posted",
           "credits_pending" = a."credits_pending" + d."credits_pending", "credits_posted" = a."credits_posted" + d."credits_posted"
         from unnest(?::uuid[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) as d("id", "debits_pending", "debits_posted", "credits_pending", "credits_posted")
         where a."id" = d."id"
         returning 1
       ), "released" as (
         delete from ${KEYS} where "key" = any(?::text[]) returning 1
       )
       select "id", "seq", "created_at" from "inserted"`,
      [
        column('id'), column('kind'), column('debitAccountId'), column('creditAccountId'), column('amount'), column('currency'),
        column('code'), column('reference'), column('pendingId'), column('reversalOf'), column('expiresAt'), column('userData'), column('importedAt'),
        arrayLiteral(accounts.map(([id]) => id)), delta('debitsPending'), delta('debitsPosted'), delta('creditsPending'), delta('creditsPosted'),
        arrayLiteral(releasedKeys),
      ],
    );
    return new Map(rows.map((row) => [row.id as string, { seq: BigInt(row.seq as string), createdAt: new Date(row.created_at as string) }]));
  }
}

function storedKeyFromRow(row: Row): StoredKey {
  return { key: row.key as string, hash: (row.request_hash as string).trim(), transferId: row.transfer_id as string };
}

function countersOf(row: Row, prefix = ''): Counters {
  return {
    debitsPending: BigInt(row[`${prefix}debits_pending`] as string),
    debitsPosted: BigInt(row[`${prefix}debits_posted`] as string),
    creditsPending: BigInt(row[`${prefix}credits_pending`] as string),
    creditsPosted: BigInt(row[`${prefix}credits_posted`] as string),
  };
}

function accountFromRow(row: Row): Account {
  return {
    id: row.id as string,
    kind: row.kind as AccountKind,
    ownerId: (row.owner_id as string | null) ?? null,
    currency: (row.currency as string).trim(),
    balanceRule: row.balance_rule as BalanceRule,
    debitLimit: BigInt(row.debit_limit as string),
    ...countersOf(row),
    createdAt: new Date(row.created_at as string),
  };
}

function transferFromRow(row: Row): Transfer {
  return {
    id: row.id as string,
    seq: BigInt(row.seq as string),
    kind: row.kind as TransferKind,
    debitAccountId: row.debit_account_id as string,
    creditAccountId: row.credit_account_id as string,
    amount: BigInt(row.amount as string),
    currency: (row.currency as string).trim(),
    code: row.code as string,
    reference: (row.reference as string | null) ?? null,
    pendingId: (row.pending_id as string | null) ?? null,
    reversalOf: (row.reversal_of as string | null) ?? null,
    expiresAt: row.expires_at ? new Date(row.expires_at as string) : null,
    userData: row.user_data === null || row.user_data === undefined ? null : BigInt(row.user_data as string),
    createdAt: new Date(row.created_at as string),
  };
}
