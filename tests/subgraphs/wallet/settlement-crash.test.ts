import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../../../platform/config.ts';
import { executeStatement, type Database } from '../../../platform/db.ts';
import { TripCompleted, type TripCompletedData } from '../../../platform/events/contracts/index.ts';
import { streamKey } from '../../../platform/events/index.ts';
import { RedisStreamTransport } from '../../../platform/events/transport.ts';
import { createLogger } from '../../../platform/logger.ts';
import { redisNamespace } from '../../../platform/redis.ts';
import { openSubgraphDatabase } from '../../../platform/subgraph.ts';
import { walletSubgraph } from '../../../subgraphs/wallet/index.ts';
import { describeCheck, Ledger } from '../../../subgraphs/wallet/ledger/index.ts';
import { holdKey } from '../../../subgraphs/wallet/trip-ledger.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { startServiceProcess, type ServiceProcess } from '../../support/processes.ts';
import { waitFor } from '../../support/rides.ts';
import { testEnvironment } from '../../support/stack.ts';

const DISTRIBUTED = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
const TRIPS = 300;

/**
 * The wallet as its own process (distributed mode), killed with SIGKILL in the middle of settling a burst
 * and started again: whatever it was doing when it died rolled back with its transaction, and the events
 * it had read but not acknowledged are claimed again by the new process. Every trip ends settled once.
 */
describe('a wallet process killed while it settles a burst of trips', { skip: DISTRIBUTED ? false : 'needs DATABASE_URL and REDIS_URL: one process per service, as deployed' }, () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let db: Database;
  let ledger: Ledger;
  let redis: Redis;
  const processes: ServiceProcess[] = [];

  before(async () => {
    database = await createTestDatabase();
    env = testEnvironment(database, { LOG_LEVEL: 'warn', DATABASE_POOL_MAX: '6' });
    const config = loadConfig('wallet', env);
    db = await openSubgraphDatabase(walletSubgraph, config, { logger: createLogger(config) });
    ledger = new Ledger(db, { driverDebtLimitMinor: config.wallet.driverDebtLimitMinor });
    redis = new Redis(process.env.REDIS_URL!);
  });
  after(async () => {
    await Promise.all(processes.map((service) => service.stop()));
    await ledger?.close();
    await db?.close();
    if (redis) {
      await redis.unlink(streamKey(redisNamespace(loadConfig('wallet', env)), 'trips'));
      redis.disconnect();
    }
    await database?.dispose();
  });

  const settledCount = async (tripIds: string[]) =>
    (await executeStatement<{ n: number }>(db.fork(), `select count(*)::int as "n" from "wallet"."ledger_transfers" where "code" in ('COMMISSION', 'CASH_COMMISSION') and "reference" = any(?::text[])`, [`{${tripIds.join(',')}}`]))[0]!.n;

  it('settles every trip exactly once after the restart', async () => {
    processes.push(await startServiceProcess('wallet', env));
    const provider = await ledger.systemAccountId('PROVIDER_CLEARING');
    const clearing = await ledger.systemAccountId('TRIP_CLEARING');
    const drivers = Array.from({ length: 20 }, () => randomUUID());
    const trips: TripCompletedData[] = Array.from({ length: TRIPS }, (_, i) => ({
      tripId: randomUUID(),
      riderId: randomUUID(),
      driverId: randomUUID(),
      driverUserId: drivers[i % drivers.length]!,
      fareMinor: '8750',
      commissionMinor: '1313',
      currency: 'EGP',
      paymentMethod: i % 2 === 0 ? 'WALLET' : 'CASH',
      completedAt: new Date().toISOString(),
    }));
    await Promise.all(
      trips.filter((trip) => trip.paymentMethod === 'WALLET').map(async (trip) => {
        const wallet = await ledger.openAccount({ kind: 'RIDER_WALLET', ownerId: trip.riderId });
        await ledger.transfer({ idempotencyKey: `deposit:${trip.tripId}`, debitAccountId: provider, creditAccountId: wallet.id, amount: 10_000n, code: 'DEPOSIT' });
        await ledger.hold({ idempotencyKey: holdKey(trip.tripId), debitAccountId: wallet.id, creditAccountId: clearing, amount: 8_750n, code: 'TRIP_FARE', reference: trip.tripId });
      }),
    );

    const tripIds = trips.map((trip) => trip.tripId);
    const transport = new RedisStreamTransport(redis);
    await transport.append(
      streamKey(redisNamespace(loadConfig('wallet', env)), 'trips'),
      trips.map((data) => ({ type: TripCompleted.type, payload: JSON.stringify({ id: randomUUID(), type: TripCompleted.type, source: 'trips', occurredAt: new Date().toISOString(), key: data.tripId, data }) })),
    );
    // Killed once it has settled some of the burst, and (almost surely) while it settles more.
    const before = await waitFor(async () => {
      const n = await settledCount(tripIds);
      return n > 0 ? n : undefined;
    }, { what: 'the first settlements', everyMs: 2 });
    processes.shift()!.child.kill('SIGKILL');
    assert.ok(before < TRIPS, `killed after ${before} of ${TRIPS}: too late to prove anything`);

    processes.push(await startServiceProcess('wallet', env));
    await waitFor(async () => ((await settledCount(tripIds)) === TRIPS ? true : undefined), { what: 'every trip settled after the restart', timeoutMs: 60_000, everyMs: 100 });

    const rows = await executeStatement<{ reference: string; commissions: number; shares: number; posts: number }>(
      db.fork(),
      `select "reference", count(*) filter (where "code" in ('COMMISSION', 'CASH_COMMISSION'))::int as "commissions", count(*) filter (where "code" = 'DRIVER_EARNINGS')::int as "shares",
              count(*) filter (where "kind" = 'POST_PENDING')::int as "posts"
       from "wallet"."ledger_transfers" where "reference" = any(?::text[]) group by "reference"`,
      [`{${tripIds.join(',')}}`],
    );
    const byTrip = new Map(rows.map((row) => [row.reference, row]));
    for (const trip of trips) {
      const row = byTrip.get(trip.tripId)!;
      const wallet = trip.paymentMethod === 'WALLET';
      assert.deepEqual([row.commissions, row.shares, row.posts], [1, wallet ? 1 : 0, wallet ? 1 : 0], `trip ${trip.tripId} (${trip.paymentMethod})`);
    }
    const check = await ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  });
});
