import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../../platform/config.ts';
import { executeStatement, type Database } from '../../../platform/db.ts';
import { AppError } from '../../../platform/errors.ts';
import { createLogger } from '../../../platform/logger.ts';
import { openSubgraphDatabase } from '../../../platform/subgraph.ts';
import { walletSubgraph } from '../../../subgraphs/wallet/index.ts';
import { describeCheck, Ledger, type Account, type LedgerOptions } from '../../../subgraphs/wallet/ledger/index.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { seedFromTemplates } from '../../support/pglite-templates.ts';
import { testEnvironment } from '../../support/stack.ts';

/** Whether the tests run on the real Postgres (DATABASE_URL) rather than embedded PGlite. */
export const ON_POSTGRES = Boolean(process.env.DATABASE_URL);

/**
 * The wallet's database of a test's own (real Postgres when DATABASE_URL is set, PGlite otherwise),
 * migrations applied, and a Ledger over it. `replica()` opens another Ledger as a second wallet process
 * would: on Postgres its own connection pool; on PGlite (one connection) the same database.
 */
export class LedgerWorld {
  readonly database: TestDatabase;
  readonly db: Database;
  readonly ledger: Ledger;
  /** SQL statements sent through `db` (reads and batches), since the start or the last reset. */
  readonly statements: { count: number };
  readonly #options: LedgerOptions;
  readonly #closers: Array<() => Promise<void>> = [];

  private constructor(database: TestDatabase, db: Database, options: LedgerOptions, statements: { count: number }) {
    this.database = database;
    this.db = db;
    this.statements = statements;
    this.#options = options;
    this.ledger = new Ledger(db, options);
    this.#closers.push(() => this.ledger.close(), () => db.close());
  }

  static async create(options: LedgerOptions = {}): Promise<LedgerWorld> {
    const database = await createTestDatabase();
    const statements = { count: 0 };
    try {
      const db = await openWalletDatabase(database, () => {
        statements.count += 1;
      });
      return new LedgerWorld(database, db, options, statements);
    } catch (error) {
      await database.dispose();
      throw error;
    }
  }

  /** Another wallet process on the same database. */
  async replica(options: LedgerOptions = this.#options): Promise<Ledger> {
    const db = this.database.databaseUrl ? await openWalletDatabase(this.database) : this.db;
    const ledger = new Ledger(db, options);
    this.#closers.unshift(async () => {
      await ledger.close();
      if (db !== this.db) await db.close();
    });
    return ledger;
  }

  /** One statement straight to the database, bypassing the ledger (what code must never do). */
  sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    return executeStatement<T>(this.db.fork(), text, params);
  }

  /** A rider wallet holding `balance` (deposited from the provider's clearing account). */
  async riderWallet(balance = 0n, ledger: Ledger = this.ledger): Promise<Account> {
    const wallet = await ledger.openAccount({ kind: 'RIDER_WALLET', ownerId: randomUUID() });
    if (balance > 0n) await this.deposit(wallet.id, balance, ledger);
    return wallet;
  }

  async driverWallet(ledger: Ledger = this.ledger): Promise<Account> {
    return ledger.openAccount({ kind: 'DRIVER_WALLET', ownerId: randomUUID() });
  }

  async deposit(accountId: string, amount: bigint, ledger: Ledger = this.ledger) {
    return ledger.transfer({ idempotencyKey: `deposit:${randomUUID()}`, debitAccountId: await ledger.systemAccountId('PROVIDER_CLEARING'), creditAccountId: accountId, amount, code: 'DEPOSIT' });
  }

  /** Asserts the ledger balanced, printing every discrepancy otherwise. */
  async assertBalanced() {
    const check = await this.ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
    return check;
  }

  async dispose() {
    for (const close of this.#closers) await close();
    await this.database.dispose();
  }
}

/** The wallet's database as the subgraph opens it (its migrations, then the platform's event tables). */
async function openWalletDatabase(database: TestDatabase, onStatement?: () => void): Promise<Database> {
  if (!database.databaseUrl) await seedFromTemplates(database.dataDir, [walletSubgraph]);
  const config = loadConfig('wallet', testEnvironment(database, { DATABASE_POOL_MAX: '8' }));
  return openSubgraphDatabase(walletSubgraph, config, { logger: createLogger(config), onStatement });
}

/** Asserts `promise` rejects with an AppError of `code` (and, when given, `extensions.reason`); answers it. */
export async function rejectsWith(promise: Promise<unknown>, code: string, reason?: string): Promise<AppError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof AppError, `expected an AppError ${code}, got ${String(caught)}`);
  assert.equal(caught.extensions.code, code, caught.message);
  if (reason !== undefined) assert.equal(caught.extensions.reason, reason);
  return caught;
}
