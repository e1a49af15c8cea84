/**
 * Settlement benchmark: a burst of completed trips settled by the wallet — TripCompleted events on trips'
 * Redis stream → the wallet's settlement consumer → the ledger — timed from the burst's publication to
 * its last trip's last leg. Next to it, in the same run, on the same database and stream, the same burst
 * settled without batching: one event per read and per transaction (what a consumer that settles trip
 * by trip does). After every run the ledger must be balanced and every trip settled exactly once.
 *
 *   npm run bench:settlement -- [--trips 1000] [--wallet-share 0.5] [--drivers 200] [--runs 1]
 *
 * The wallet subgraph runs in this process (as `startSubgraph` runs it, on Postgres and Redis) so the
 * unbatched run can be given its consumer tuning; the "load" is one pipelined XADD of the burst, made
 * before the clock starts counting settlements. WALLET trips have their fare held first, as trips holds
 * it at booking. DATABASE_URL / REDIS_URL default to the local 127.0.0.1 servers; a fresh database is
 * created and dropped, the run's Redis keys deleted.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../platform/config.ts';
import { TripCompleted, type TripCompletedData } from '../platform/events/contracts/index.ts';
import { streamKey, type ConsumerTuning } from '../platform/events/index.ts';
import { createLogger } from '../platform/logger.ts';
import { RedisStreamTransport } from '../platform/events/transport.ts';
import { startSubgraph, type RunningSubgraph } from '../platform/subgraph.ts';
import { walletSubgraph } from '../subgraphs/wallet/index.ts';
import { describeCheck, Ledger } from '../subgraphs/wallet/ledger/index.ts';
import { holdKey } from '../subgraphs/wallet/trip-ledger.ts';
import { inBatches, percentiles, runBenchmark, startBenchRun, type BenchRun } from './support.ts';

interface Trip {
  data: TripCompletedData;
}

interface RunResult {
  label: string;
  trips: number;
  seconds: number;
  /** Publication → the trip's settlement committed, per trip (ms). */
  latencies: number[];
  statements: number;
  balanced: string;
}

const MODES: Array<{ label: string; tuning: ConsumerTuning }> = [
  { label: 'batched: a read of ≤ 20 events, one transaction', tuning: {} },
  { label: 'unbatched: one event per read and transaction', tuning: { batchSize: 1 } },
];

async function main() {
  const { values } = parseArgs({
    options: {
      trips: { type: 'string', default: '1000' },
      'wallet-share': { type: 'string', default: '0.5' },
      drivers: { type: 'string', default: '200' },
      runs: { type: 'string', default: '1' },
    },
  });
  const tripCount = Number(values.trips);
  const walletShare = Number(values['wallet-share']);
  const driverCount = Number(values.drivers);
  const runs = Number(values.runs);
  console.log(`bench:settlement — bursts of ${tripCount} completed trips (${Math.round(walletShare * 100)} % WALLET with the fare held, the rest CASH) over ${driverCount} drivers, ${os.cpus().length} CPUs`);

  const run = await startBenchRun('settlement');
  const redis = new Redis(run.redisUrl);
  const transport = new RedisStreamTransport(redis);
  const probe = new pg.Client({ connectionString: run.database.url });
  await probe.connect();
  const results: RunResult[] = [];
  try {
    const env = { ...run.env, LOG_LEVEL: 'warn', PORT: '0', HOST: '127.0.0.1' };
    const drivers = Array.from({ length: driverCount }, () => randomUUID());
    for (let r = 0; r < runs; r++) {
      for (const mode of MODES) {
        const result = await burst(run, env, mode, { tripCount, walletShare, drivers, transport, probe });
        results.push(result);
        console.log(line(result));
        if (result.balanced !== 'yes') throw new Error(`the ledger is not balanced after ${mode.label}:\n${result.balanced}`);
      }
    }
    console.log(`\n${table(results)}`);
    const batched = results.filter((result) => result.label === MODES[0]!.label);
    const worst = Math.max(...batched.map((result) => result.seconds));
    console.log(`\ntarget: ${tripCount} trips settled within 5 s — ${worst <= 5 ? 'met' : 'MISSED'} (slowest batched burst ${worst.toFixed(2)} s)`);
  } finally {
    await probe.end();
    await transport.close();
    redis.disconnect();
    await run.dispose();
  }
}

async function burst(
  run: BenchRun,
  env: Record<string, string>,
  mode: (typeof MODES)[number],
  options: { tripCount: number; walletShare: number; drivers: string[]; transport: RedisStreamTransport; probe: pg.Client },
): Promise<RunResult> {
  const config = loadConfig('wallet', env);
  const logger = createLogger(config);
  const wallet: RunningSubgraph = await startSubgraph(walletSubgraph, config, { logger, events: mode.tuning });
  const ledger = new Ledger(wallet.db, { driverDebtLimitMinor: config.wallet.driverDebtLimitMinor });
  try {
    // The burst: riders of WALLET trips funded, their fares held (as at booking); CASH trips need nothing.
    const provider = await ledger.systemAccountId('PROVIDER_CLEARING');
    const clearing = await ledger.systemAccountId('TRIP_CLEARING');
    const trips: Trip[] = Array.from({ length: options.tripCount }, (_, i) => {
      const fare = 2_000n + BigInt(Math.floor(Math.random() * 13_000));
      const data: TripCompletedData = {
        tripId: randomUUID(),
        riderId: randomUUID(),
        driverId: randomUUID(),
        driverUserId: options.drivers[i % options.drivers.length]!,
        fareMinor: String(fare),
        commissionMinor: String((fare * 1_500n + 5_000n) / 10_000n),
        currency: 'EGP',
        paymentMethod: i < options.tripCount * options.walletShare ? 'WALLET' : 'CASH',
        completedAt: new Date().toISOString(),
      };
      return { data };
    });
    await inBatches(trips.filter((trip) => trip.data.paymentMethod === 'WALLET'), 500, async ({ data }) => {
      const account = await ledger.openAccount({ kind: 'RIDER_WALLET', ownerId: data.riderId });
      await ledger.transfer({ idempotencyKey: `bench-deposit:${data.tripId}`, debitAccountId: provider, creditAccountId: account.id, amount: 20_000n, code: 'DEPOSIT' });
      await ledger.hold({ idempotencyKey: holdKey(data.tripId), debitAccountId: account.id, creditAccountId: clearing, amount: BigInt(data.fareMinor), code: 'TRIP_FARE', reference: data.tripId });
    });

    const tripIds = trips.map((trip) => trip.data.tripId);
    const statementsBefore = await statementsOf(wallet);
    const entries = trips.map(({ data }) => ({
      type: TripCompleted.type,
      payload: JSON.stringify({ id: randomUUID(), type: TripCompleted.type, source: 'trips', occurredAt: new Date().toISOString(), key: data.tripId, data: TripCompleted.check(data) }),
    }));
    const publishedAt = Date.now();
    await options.transport.append(streamKey(run.namespace, 'trips'), entries);
    const started = performance.now();
    // Watches the outcome from outside: the trips whose last leg (the commission) is in the ledger.
    for (;;) {
      const { rows } = await options.probe.query(`select count(*)::int as "n" from "wallet"."ledger_transfers" where "code" in ('COMMISSION', 'CASH_COMMISSION') and "reference" = any($1::text[])`, [tripIds]);
      if (rows[0].n >= tripIds.length) break;
      if (performance.now() - started > 120_000) throw new Error(`only ${rows[0].n} of ${tripIds.length} trips settled after 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const seconds = (performance.now() - started) / 1000;
    const statements = (await statementsOf(wallet)) - statementsBefore;

    const { rows } = await options.probe.query(
      `select "reference", count(*) filter (where "code" in ('COMMISSION', 'CASH_COMMISSION'))::int as "commissions", count(*) filter (where "code" = 'DRIVER_EARNINGS')::int as "shares",
              count(*) filter (where "kind" = 'POST_PENDING')::int as "posts", max("created_at") as "settled_at"
       from "wallet"."ledger_transfers" where "reference" = any($1::text[]) group by "reference"`,
      [tripIds],
    );
    const wrong = rows.filter((row) => row.commissions !== 1 || row.shares > 1 || row.posts > 1);
    if (wrong.length > 0) throw new Error(`${wrong.length} trips were not settled exactly once`);
    const check = await ledger.checkBalanced();
    return {
      label: mode.label,
      trips: rows.length,
      seconds,
      latencies: rows.map((row) => new Date(row.settled_at).getTime() - publishedAt),
      statements,
      balanced: check.balanced ? 'yes' : describeCheck(check),
    };
  } finally {
    await ledger.close();
    await wallet.stop();
  }
}

/** SQL statements the wallet process sent (its /metrics counter, background work included). */
async function statementsOf(wallet: RunningSubgraph): Promise<number> {
  const text = await (await fetch(new URL('/metrics', wallet.url))).text();
  return Number(/^smartline_sql_statements_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN);
}

function line(result: RunResult): string {
  const { p50, p99 } = percentiles(result.latencies);
  return `${result.label.padEnd(50)} ${result.trips} trips in ${result.seconds.toFixed(2).padStart(5)} s  ${(result.trips / result.seconds).toFixed(0).padStart(5)} trips/s  per trip p50 ${p50.toFixed(0).padStart(5)} ms  p99 ${p99.toFixed(0).padStart(5)} ms  ${(result.statements / result.trips).toFixed(2)} statements/trip  balanced: ${result.balanced}`;
}

function table(results: RunResult[]): string {
  const rows = results.map((result) => {
    const { p50, p99 } = percentiles(result.latencies);
    return `| ${result.label} | ${result.seconds.toFixed(2)} s | ${Math.round(result.trips / result.seconds).toLocaleString('en-US')}/s | ${p50.toFixed(0)} ms | ${p99.toFixed(0)} ms | ${(result.statements / result.trips).toFixed(2)} | ${result.balanced} |`;
  });
  return ['| consumer | burst settled in | trips/s | p50 | p99 | statements/trip | balanced after |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

runBenchmark(import.meta.url, main);
