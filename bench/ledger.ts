/**
 * Ledger benchmark: transfers per second and latency of the wallet's ledger (subgraphs/wallet/ledger/),
 * which applies the transfers that arrive together in one transaction, next to a naive baseline in the
 * same run: one transaction per transfer that locks its two accounts (`select … for update`), checks the
 * balance, stores the idempotency key, inserts the transfer and updates both accounts. Same tables,
 * constraints and triggers, same connection pool size, same number of concurrent callers. Two
 * workloads: transfers spread over --accounts wallets, and transfers that all debit one hot wallet.
 * After every run the ledger must be balanced (checkBalanced).
 *
 *   npm run bench:ledger -- [--accounts 10000] [--duration 10] [--warmup 2] [--concurrency 256] [--pool 10]
 *
 * The callers are in this process, as the wallet subgraph's resolvers and consumers call the ledger: the
 * figures are the ledger's and Postgres's, without HTTP or GraphQL. DATABASE_URL defaults to the local
 * 127.0.0.1 server; a fresh database is created and dropped.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../platform/config.ts';
import type { Database } from '../platform/db.ts';
import { createLogger } from '../platform/logger.ts';
import { openSubgraphDatabase } from '../platform/subgraph.ts';
import { walletSubgraph } from '../subgraphs/wallet/index.ts';
import { describeCheck, Ledger } from '../subgraphs/wallet/ledger/index.ts';
import { createBenchDatabase, inBatches, localServers, percentiles, runBenchmark } from './support.ts';

/** One transfer to make: from, to, amount (minor units), and its idempotency key. */
interface Order {
  debit: string;
  credit: string;
  amount: bigint;
  key: string;
}

/** Makes one transfer; resolves when it is applied, rejects when it is refused. */
type Transferer = (order: Order) => Promise<unknown>;

interface RunResult {
  workload: string;
  implementation: string;
  transfers: number;
  refused: number;
  /** Failures other than a refusal, by message (none expected). */
  errors: Record<string, number>;
  seconds: number;
  latencies: number[];
  statements: number;
  balanced: string;
}

async function main() {
  const { values } = parseArgs({
    options: {
      accounts: { type: 'string', default: '10000' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '256' },
      pool: { type: 'string', default: '10' },
    },
  });
  const accountCount = Number(values.accounts);
  const durationMs = Number(values.duration) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const concurrency = Number(values.concurrency);
  const poolSize = Number(values.pool);
  console.log(`bench:ledger — ${accountCount} wallets, ${concurrency} concurrent callers, ${durationMs / 1000} s per run after ${warmupMs / 1000} s warm-up, ${poolSize} connections per implementation, ${os.cpus().length} CPUs`);

  const { adminUrl } = localServers();
  const database = await createBenchDatabase(adminUrl, 'ledger');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'smartline-bench-'));
  const statements = { count: 0 };
  let db: Database | undefined;
  let ledger: Ledger | undefined;
  const naivePool = new pg.Pool({ connectionString: database.url, max: poolSize });
  // A dropped connection fails the query in flight; unheard, its 'error' event would end the process.
  naivePool.on('error', (error) => console.error(`naive pool: ${error.message}`));
  naivePool.on('connect', (client) => client.on('error', (error) => console.error(`naive pool connection: ${error.message}`)));
  try {
    const config = loadConfig('wallet', { NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: database.url, DATABASE_POOL_MAX: String(poolSize), DATA_DIR: dataDir });
    db = await openSubgraphDatabase(walletSubgraph, config, { logger: createLogger(config), onStatement: () => void (statements.count += 1) });
    ledger = new Ledger(db);
    const live = ledger;

    const started = performance.now();
    const provider = await live.systemAccountId('PROVIDER_CLEARING');
    const wallets: string[] = [];
    await inBatches(Array.from({ length: accountCount }, (_, i) => i), 500, async () => wallets.push((await live.openAccount({ kind: 'RIDER_WALLET', ownerId: randomUUID() })).id));
    const hot = wallets[0]!;
    await inBatches(wallets, 2_000, (wallet) => live.transfer({ idempotencyKey: `fund:${wallet}`, debitAccountId: provider, creditAccountId: wallet, amount: wallet === hot ? 900_000_000_000n : 100_000_000n, code: 'DEPOSIT' }));
    console.log(`${accountCount} wallets opened and funded through the ledger in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

    const viaLedger: Transferer = (order) => live.transfer({ idempotencyKey: order.key, debitAccountId: order.debit, creditAccountId: order.credit, amount: order.amount, code: 'BENCH' });
    const naive: Transferer = (order) => naiveTransfer(naivePool, order);
    const random = () => wallets[Math.floor(Math.random() * wallets.length)]!;
    const workloads: Array<[string, () => Omit<Order, 'key'>]> = [
      [`spread over ${accountCount} wallets`, () => {
        const debit = random();
        let credit = random();
        while (credit === debit) credit = random();
        return { debit, credit, amount: 1n + BigInt(Math.floor(Math.random() * 500)) };
      }],
      ['one hot wallet debited by every transfer', () => {
        let credit = random();
        while (credit === hot) credit = random();
        return { debit: hot, credit, amount: 1n + BigInt(Math.floor(Math.random() * 500)) };
      }],
    ];

    const results: RunResult[] = [];
    for (const [workload, make] of workloads) {
      for (const [implementation, transfer] of [['batched ledger', viaLedger], ['naive: a transaction per transfer', naive]] as const) {
        const before = statements.count;
        const result = await closedLoop(transfer, make, { concurrency, warmupMs, durationMs });
        const check = await live.checkBalanced();
        const run: RunResult = { workload, implementation, ...result, statements: implementation === 'batched ledger' ? statements.count - before : 0, balanced: check.balanced ? 'yes' : `NO:\n${describeCheck(check)}` };
        results.push(run);
        console.log(line(run));
        if (!check.balanced) throw new Error(`the ledger is not balanced after ${workload} / ${implementation}:\n${describeCheck(check)}`);
        if (Object.keys(run.errors).length > 0) throw new Error(`${workload} / ${implementation} failed: ${JSON.stringify(run.errors)}`);
      }
    }
    console.log(`\n${table(results)}`);
  } finally {
    await ledger?.close();
    await naivePool.end();
    await db?.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `concurrency` callers, each making one transfer after another: a warm-up, then the measured window. */
async function closedLoop(transfer: Transferer, make: () => Omit<Order, 'key'>, options: { concurrency: number; warmupMs: number; durationMs: number }) {
  const latencies: number[] = [];
  let refused = 0;
  const errors: Record<string, number> = {};
  let measuring = false;
  const phase = async (ms: number) => {
    const end = performance.now() + ms;
    const caller = async () => {
      while (performance.now() < end) {
        const order = { ...make(), key: `bench:${randomUUID()}` };
        const sent = performance.now();
        const counted = measuring;
        try {
          await transfer(order);
          if (counted) latencies.push(performance.now() - sent);
        } catch (error) {
          if ((error as { extensions?: { code?: string } }).extensions?.code === 'INSUFFICIENT_FUNDS') {
            if (counted) refused += 1;
          } else {
            const message = (error as Error).message ?? String(error);
            errors[message] = (errors[message] ?? 0) + 1;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, caller));
  };
  await phase(options.warmupMs);
  measuring = true;
  const from = performance.now();
  await phase(options.durationMs);
  return { transfers: latencies.length, refused, errors, seconds: (performance.now() - from) / 1000, latencies };
}

const ACCOUNTS = '"wallet"."ledger_accounts"';

/**
 * The baseline: what a ledger without batching does, one transaction per transfer, the accounts locked
 * in id order, with the same writes as a batch of one (idempotency key, transfer, both accounts).
 */
async function naiveTransfer(pool: pg.Pool, order: Order): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query({
      name: 'naive_lock',
      text: `select "id", "debits_pending"::text, "debits_posted"::text, "credits_posted"::text, "debit_limit"::text, "balance_rule" from ${ACCOUNTS} where "id" in ($1, $2) order by "id" for update`,
      values: [order.debit, order.credit],
    });
    const debit = rows.find((row) => row.id === order.debit)!;
    if (debit.balance_rule !== 'NONE' && BigInt(debit.debits_pending) + BigInt(debit.debits_posted) + order.amount > BigInt(debit.credits_posted) + BigInt(debit.debit_limit)) {
      await client.query('rollback');
      throw Object.assign(new Error('insufficient funds'), { extensions: { code: 'INSUFFICIENT_FUNDS' } });
    }
    const id = randomUUID();
    await client.query({ name: 'naive_key', text: `insert into "wallet"."ledger_idempotency_keys" ("key", "request_hash", "transfer_id") values ($1, $2, $3)`, values: [order.key, '0'.repeat(64), id] });
    await client.query({
      name: 'naive_transfer',
      text: `insert into "wallet"."ledger_transfers" ("id", "kind", "debit_account_id", "credit_account_id", "amount", "currency", "code") values ($1, 'SINGLE', $2, $3, $4, 'EGP', 'BENCH')`,
      values: [id, order.debit, order.credit, String(order.amount)],
    });
    await client.query({ name: 'naive_debit', text: `update ${ACCOUNTS} set "debits_posted" = "debits_posted" + $2 where "id" = $1`, values: [order.debit, String(order.amount)] });
    await client.query({ name: 'naive_credit', text: `update ${ACCOUNTS} set "credits_posted" = "credits_posted" + $2 where "id" = $1`, values: [order.credit, String(order.amount)] });
    await client.query('commit');
  } catch (error) {
    if ((error as { extensions?: unknown }).extensions === undefined) await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function line(run: RunResult): string {
  const { p50, p99, max } = percentiles(run.latencies);
  const perTransfer = run.statements ? `  ${(run.statements / Math.max(1, run.transfers + run.refused)).toFixed(3)} statements/transfer` : '';
  const errors = Object.entries(run.errors).map(([message, count]) => `${count}× ${message}`).join('; ') || 'none';
  return `${`${run.workload} · ${run.implementation}`.padEnd(78)} ${(run.transfers / run.seconds).toFixed(0).padStart(6)}/s  p50 ${p50.toFixed(1).padStart(6)} ms  p99 ${p99.toFixed(1).padStart(6)} ms  max ${max.toFixed(0).padStart(5)} ms  refused ${run.refused}${perTransfer}  errors: ${errors}  balanced: ${run.balanced}`;
}

function table(results: RunResult[]): string {
  const rows = results.map((run) => {
    const { p50, p99, max } = percentiles(run.latencies);
    return `| ${run.workload} | ${run.implementation} | ${Math.round(run.transfers / run.seconds).toLocaleString('en-US')}/s | ${p50.toFixed(1)} ms | ${p99.toFixed(1)} ms | ${max.toFixed(0)} ms | ${run.balanced} |`;
  });
  return ['| workload | implementation | transfers/s | p50 | p99 | max | balanced after |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

runBenchmark(import.meta.url, main);
