/**
 * The ledger statements of the wallet's background maintenance (subgraphs/wallet/maintenance.ts): finding
 * fare holds as they age, and drivers' receivables their wallet can pay. Reads only: money moves through
 * the Ledger's own calls (its batches, keys and checks). Bigints are read as text (PGlite answers a bigint
 * as a JS number), as in ledger-repository.ts.
 */
import type { EntityManager } from '../../../platform/db.ts';
import type { SystemAccountKind } from './accounts.ts';
import { statementsOf, type RunStatement } from './sql-session.ts';
import type { TransferKind } from './transfers.ts';

const ACCOUNTS = '"wallet"."ledger_accounts"';
const TRANSFERS = '"wallet"."ledger_transfers"';

/** A transfer as the hold scan reads it: enough to tell a fare hold and how old it is. */
export interface ScannedTransfer {
  id: string;
  seq: bigint;
  kind: TransferKind;
  code: string;
  reference: string | null;
  createdAt: Date;
}

/** A driver's receivable with a debt and their wallet (same owner and currency) with money available. */
export interface SweepableReceivable {
  receivableId: string;
  walletId: string;
  ownerId: string;
  currency: string;
}

export class MaintenanceRepository {
  /** Statements on their own, outside any transaction (`statementsOf`). */
  readonly #run: RunStatement;

  constructor(db: { fork(): EntityManager }) {
    this.#run = statementsOf(db);
  }

  /** The platform's accounts of `kind`, one per currency (through the accounts' (kind, owner, currency) unique index). */
  async systemAccountIds(kind: SystemAccountKind): Promise<string[]> {
    const rows = await this.#run(`select "id" from ${ACCOUNTS} where "kind" = ? and "owner_id" is null order by "id"`, [kind]);
    return rows.map((row) => row.id as string);
  }

  /**
   * The account's credit-side transfers applied after `afterSeq`, oldest first (an index range scan of
   * `ledger_transfers_credit_account_seq_index`): every fare hold credits the trip clearing account.
   */
  async creditsAfter(accountId: string, afterSeq: bigint, limit: number): Promise<ScannedTransfer[]> {
    const rows = await this.#run(
      `select "id", "seq"::text as "seq", "kind", "code", "reference", "created_at" from ${TRANSFERS}
       where "credit_account_id" = ? and "seq" > ? order by "seq" limit ?`,
      [accountId, String(afterSeq), limit],
    );
    return rows.map((row) => ({
      id: row.id as string,
      seq: BigInt(row.seq as string),
      kind: row.kind as TransferKind,
      code: row.code as string,
      reference: (row.reference as string | null) ?? null,
      createdAt: new Date(row.created_at as string),
    }));
  }

  /**
   * The seq of the account's last credit-side transfer applied before `before` (0 when none): where a scan
   * of what was applied since starts. Walks the same index back from the newest, so it reads what was
   * applied after `before` once.
   */
  async lastCreditSeqBefore(accountId: string, before: Date): Promise<bigint> {
    const [row] = await this.#run(`select "seq"::text as "seq" from ${TRANSFERS} where "credit_account_id" = ? and "created_at" < ? order by "seq" desc limit 1`, [accountId, before.toISOString()]);
    return row ? BigInt(row.seq as string) : 0n;
  }

  /**
   * Drivers' receivables with a debt (debits posted beyond credits posted and pending) whose owner's driver
   * wallet in the same currency has money available (credits posted beyond debits posted and pending), in
   * id order after `afterId`. Receivables are few (only drivers past their debt limit have one) and found
   * through the (kind, owner, currency) unique index, as is each one's wallet.
   */
  async sweepableReceivables(afterId: string | null, limit: number): Promise<SweepableReceivable[]> {
    const rows = await this.#run(
      `select r."id" as "receivable_id", w."id" as "wallet_id", r."owner_id", r."currency" from ${ACCOUNTS} as r
       join ${ACCOUNTS} as w on w."kind" = 'DRIVER_WALLET' and w."owner_id" = r."owner_id" and w."currency" = r."currency"
       where r."kind" = 'DRIVER_RECEIVABLE' and r."id" > ?::uuid
         and r."debits_posted" > r."credits_posted" + r."credits_pending"
         and w."credits_posted" > w."debits_posted" + w."debits_pending"
       order by r."id" limit ?`,
      [afterId ?? '00000000-0000-0000-0000-000000000000', limit],
    );
    return rows.map((row) => ({ receivableId: row.receivable_id as string, walletId: row.wallet_id as string, ownerId: row.owner_id as string, currency: (row.currency as string).trim() }));
  }
}
