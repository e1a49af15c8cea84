import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../../platform/config.ts';
import { executeStatement, type Database } from '../../platform/db.ts';
import { TripRequested } from '../../platform/events/contracts/index.ts';
import type { ConsumerOptions } from '../../platform/events/index.ts';
import { createLogger, type Logger } from '../../platform/logger.ts';
import { openSubgraphDatabase, type SubgraphSetup } from '../../platform/subgraph.ts';
import { createWalletSubgraph, walletSubgraph } from '../../subgraphs/wallet/index.ts';
import { balanceOf, describeCheck, Ledger, type TransferWithParties } from '../../subgraphs/wallet/ledger/index.ts';
import { RECEIVABLE_SETTLEMENT, startWalletMaintenance, type MaintenanceReport, type WalletMaintenance, type WalletMaintenanceOptions } from '../../subgraphs/wallet/maintenance.ts';
import { maintenanceMigrations } from '../../subgraphs/wallet/maintenance-migrations.ts';
import { WalletService } from '../../subgraphs/wallet/service.ts';
import { Settlement } from '../../subgraphs/wallet/settlement.ts';
import { consumeTripBookings, TRIP_BOOKINGS_CONSUMER, type TripRequestedEvent } from '../../subgraphs/wallet/trip-bookings.ts';
import { tripLedgerOf } from '../../subgraphs/wallet/trip-ledger.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { seedFromTemplates } from '../support/pglite-templates.ts';
import { waitFor } from '../support/rides.ts';
import { startStack, testEnvironment } from '../support/stack.ts';

const ON_POSTGRES = Boolean(process.env.DATABASE_URL);
const MINUTE = 60_000;
const DEBT_LIMIT = 1_000n;
const FARE = 8_750n;

/** The wallet's migrations and the maintenance's (once index.ts lists them, they are not added twice). */
const setup = {
  ...walletSubgraph,
  migrations: [...walletSubgraph.migrations, ...maintenanceMigrations.filter((entry) => !walletSubgraph.migrations.some((own) => own.name === entry.name))],
};

/** The wallet as it was before the maintenance's migrations. */
const setupBefore = { ...walletSubgraph, migrations: walletSubgraph.migrations.filter((own) => !maintenanceMigrations.some((entry) => entry.name === own.name)) };

async function openWalletDatabase(database: TestDatabase, migrated: typeof setup = setup): Promise<Database> {
  if (!database.databaseUrl) await seedFromTemplates(database.dataDir, [setupBefore]);
  const config = loadConfig('wallet', testEnvironment(database, { DATABASE_POOL_MAX: '8' }));
  return openSubgraphDatabase(migrated, config, { logger: createLogger(config) });
}

/**
 * A wallet database of the test's own (real Postgres with DATABASE_URL, PGlite otherwise) with the
 * maintenance's table, a Ledger, the domain service trips calls, and a clock the maintenance reads.
 */
class World {
  /** The maintenance's clock: tests move it; the ledger stamps transfers with the database's. */
  clock = new Date();
  readonly #closers: Array<() => Promise<void>> = [];

  readonly database: TestDatabase;
  readonly db: Database;
  readonly ledger: Ledger;
  readonly wallet: WalletService;
  readonly logger: Logger;

  private constructor(database: TestDatabase, db: Database, ledger: Ledger, wallet: WalletService, logger: Logger) {
    this.database = database;
    this.db = db;
    this.ledger = ledger;
    this.wallet = wallet;
    this.logger = logger;
    this.#closers.push(() => ledger.close(), () => db.close());
  }

  /** On a new database, or on `database` as an earlier wallet left it. */
  static async create(database?: TestDatabase): Promise<World> {
    database ??= await createTestDatabase();
    const db = await openWalletDatabase(database);
    const ledger = new Ledger(db, { driverDebtLimitMinor: DEBT_LIMIT });
    for (const kind of ['TRIP_CLEARING', 'PLATFORM_REVENUE', 'PROVIDER_CLEARING'] as const) await ledger.systemAccountId(kind);
    const logger = createLogger(loadConfig('wallet', testEnvironment(database)));
    return new World(database, db, ledger, new WalletService({ ledger, driverDebtLimit: DEBT_LIMIT, logger }), logger);
  }

  /** Another wallet process on the same database: its own pool on Postgres (PGlite has one connection). */
  async replica(): Promise<{ ledger: Ledger; db: Database }> {
    const db = this.database.databaseUrl ? await openWalletDatabase(this.database) : this.db;
    const ledger = new Ledger(db, { driverDebtLimitMinor: DEBT_LIMIT });
    this.#closers.unshift(async () => {
      await ledger.close();
      if (db !== this.db) await db.close();
    });
    return { ledger, db };
  }

  /** A maintenance on this world's ledger (or a replica's), on this world's clock, without a timer. */
  maintenance(on: { ledger: Ledger; db: Database } = this, options: WalletMaintenanceOptions = {}): WalletMaintenance {
    const maintenance = startWalletMaintenance({ ledger: on.ledger, db: on.db, logger: this.logger }, { intervalMs: 0, now: () => this.clock, ...options });
    this.#closers.unshift(() => maintenance.stop());
    return maintenance;
  }

  async runOnce(): Promise<MaintenanceReport> {
    const report = await this.maintenance().runOnce();
    assert.deepEqual(report.failures, []);
    return report;
  }

  sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    return executeStatement<T>(this.db.fork(), text, params);
  }

  async deposit(accountId: string, amount: bigint) {
    await this.ledger.transfer({ idempotencyKey: `deposit:${randomUUID()}`, debitAccountId: await this.ledger.systemAccountId('PROVIDER_CLEARING'), creditAccountId: accountId, amount, code: 'DEPOSIT' });
  }

  /** A rider with `balance` in their wallet whose trip's fare trips held at booking (as trips asks the wallet). */
  async heldFare(balance = 10_000n): Promise<{ tripId: string; riderId: string; walletId: string; hold: TransferWithParties }> {
    const riderId = randomUUID();
    const tripId = randomUUID();
    const wallet = await this.ledger.openAccount({ kind: 'RIDER_WALLET', ownerId: riderId });
    await this.deposit(wallet.id, balance);
    const view = await this.wallet.holdTripFare({ tripId, riderId, amount: { minor: FARE, currency: 'EGP' } });
    assert.equal(view.status, 'AUTHORIZED');
    const hold = tripLedgerOf(await this.ledger.transfersByReferences([tripId])).hold!;
    return { tripId, riderId, walletId: wallet.id, hold };
  }

  /** Trips' TripRequested events, recorded through the wallet's consumer as it handles a read of trips' stream, at `recordedAt`. */
  async booked(trips: Array<{ tripId: string; riderId?: string; paymentMethod?: 'CASH' | 'WALLET'; requestedAt: Date }>, recordedAt: Date) {
    let consumer: ConsumerOptions<typeof TripRequested> | undefined;
    consumeTripBookings({ events: { consume: (options: ConsumerOptions<any>) => void (consumer = options) } as any }, { now: () => recordedAt });
    assert.equal(consumer!.name, TRIP_BOOKINGS_CONSUMER);
    assert.equal(consumer!.source, 'trips');
    const events: TripRequestedEvent[] = trips.map((trip) => ({
      id: randomUUID(),
      type: 'TripRequested',
      source: 'trips',
      occurredAt: trip.requestedAt.toISOString(),
      key: trip.tripId,
      data: TripRequested.parse({
        tripId: trip.tripId,
        riderId: trip.riderId ?? randomUUID(),
        quoteId: randomUUID(),
        vehicleType: 'ECONOMY',
        pickup: { lat: 30.04, lng: 31.23 },
        dropoff: { lat: 30.06, lng: 31.25 },
        fareMinor: String(FARE),
        currency: 'EGP',
        paymentMethod: trip.paymentMethod ?? 'WALLET',
        requestedAt: trip.requestedAt.toISOString(),
      }),
    }));
    await this.db.fork().transactional((em) => consumer!.handleMany!(events, em));
  }

  /**
   * The wallet's consumer has read trips' stream up to `at`: another rider's booking requested then,
   * recorded then (the maintenance then judges holds older than `at` minus the grace period, once the
   * confirmation delay has passed).
   */
  bookingsReadUntil(at: Date) {
    return this.booked([{ tripId: randomUUID(), paymentMethod: 'CASH', requestedAt: at }], at);
  }

  async transfersOf(tripId: string) {
    return this.ledger.transfersByReferences([tripId]);
  }

  async available(accountId: string) {
    return (await this.ledger.balance(accountId)).available;
  }

  async assertBalanced() {
    const check = await this.ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  }

  async dispose() {
    for (const close of this.#closers) await close();
    await this.database.dispose();
  }
}

const after = (at: Date, ms: number) => new Date(at.getTime() + ms);

describe('the wallet maintenance', () => {
  let world: World;
  beforeEach(async () => {
    world = await World.create();
  });
  afterEach(async () => {
    try {
      await world.assertBalanced();
    } finally {
      await world.dispose();
    }
  });

  describe('orphan fare holds', () => {
    it("voids a hold whose trip was never booked once it is past the grace period, and the rider's available balance is whole again", async () => {
      const { tripId, riderId, walletId, hold } = await world.heldFare(10_000n);
      assert.equal(await world.available(walletId), 10_000n - FARE);
      await world.bookingsReadUntil(after(hold.createdAt, 11 * MINUTE));
      world.clock = after(hold.createdAt, 14 * MINUTE);

      const report = await world.runOnce();
      assert.deepEqual(
        report.orphanHolds.reclaimed.map((reclaimed) => [reclaimed.tripId, reclaimed.riderId, reclaimed.amount, reclaimed.reason]),
        [[tripId, riderId, FARE, 'NO_TRIP']],
      );
      assert.equal(await world.available(walletId), 10_000n);
      const ledger = tripLedgerOf(await world.transfersOf(tripId));
      assert.equal(ledger.holdResolution?.kind, 'VOID_PENDING');
      // As trips' release would have: the rider's wallet says the hold was released, and a late release finds it so.
      assert.equal((await world.wallet.releaseTripFare(tripId))?.status, 'VOIDED');

      const again = await world.runOnce();
      assert.deepEqual(again.orphanHolds.reclaimed, []);
      assert.equal((await world.transfersOf(tripId)).filter((transfer) => transfer.kind === 'VOID_PENDING').length, 1);
    });

    it('keeps the hold of a trip that was booked (its settlement resolves it), however old', async () => {
      const { tripId, walletId, hold } = await world.heldFare();
      await world.booked([{ tripId, requestedAt: after(hold.createdAt, 50) }], after(hold.createdAt, 900));
      await world.bookingsReadUntil(after(hold.createdAt, 2 * 24 * 60 * MINUTE));
      world.clock = after(hold.createdAt, 2 * 24 * 60 * MINUTE + 5 * MINUTE);

      const report = await world.runOnce();
      assert.deepEqual(report.orphanHolds.reclaimed, []);
      assert.equal(report.orphanHolds.kept, 1);
      assert.equal(await world.available(walletId), 10_000n - FARE);
      assert.equal(tripLedgerOf(await world.transfersOf(tripId)).holdResolution, null);
    });

    it('keeps a hold within the grace period, and voids it once the grace period is over', async () => {
      const { tripId, walletId, hold } = await world.heldFare();
      const maintenance = world.maintenance();

      await world.bookingsReadUntil(after(hold.createdAt, 6 * MINUTE));
      world.clock = after(hold.createdAt, 9 * MINUTE);
      const early = await maintenance.runOnce();
      assert.ok(early.orphanHolds.cutoff! < hold.createdAt, `judged up to ${early.orphanHolds.cutoff?.toISOString()}`);
      assert.deepEqual([early.orphanHolds.scanned, early.orphanHolds.reclaimed.length], [0, 0], 'nothing younger than the grace period is even judged');
      assert.equal(await world.available(walletId), 10_000n - FARE);

      await world.bookingsReadUntil(after(hold.createdAt, 30 * MINUTE));
      world.clock = after(hold.createdAt, 35 * MINUTE);
      const late = await maintenance.runOnce();
      assert.deepEqual(late.orphanHolds.reclaimed.map((reclaimed) => reclaimed.tripId), [tripId]);
      assert.equal(await world.available(walletId), 10_000n);
    });

    it("keeps an old hold while trips' bookings have not been read past it (trips, Redis or the consumer lagging), and voids it once they have", async () => {
      const { tripId, walletId, hold } = await world.heldFare();
      world.clock = after(hold.createdAt, 60 * MINUTE);
      const maintenance = world.maintenance();

      const nothingRead = await maintenance.runOnce();
      assert.equal(nothingRead.orphanHolds.watermark, null);
      assert.deepEqual(nothingRead.orphanHolds.reclaimed, []);

      // Bookings up to 5 minutes after the hold: its own booking could still be on the way.
      await world.bookingsReadUntil(after(hold.createdAt, 5 * MINUTE));
      assert.deepEqual((await maintenance.runOnce()).orphanHolds.reclaimed, []);

      // A booking made 12 minutes after the hold, recorded only a minute ago: its redeliveries may not be settled.
      await world.booked([{ tripId: randomUUID(), paymentMethod: 'CASH', requestedAt: after(hold.createdAt, 12 * MINUTE) }], after(world.clock, -MINUTE));
      assert.deepEqual((await maintenance.runOnce()).orphanHolds.reclaimed, []);
      assert.equal(await world.available(walletId), 10_000n - FARE);

      world.clock = after(world.clock, 3 * MINUTE);
      assert.deepEqual((await maintenance.runOnce()).orphanHolds.reclaimed.map((reclaimed) => reclaimed.tripId), [tripId]);
      assert.equal(await world.available(walletId), 10_000n);
    });

    it('leaves alone a hold that trips released or the settlement resolved', async () => {
      const released = await world.heldFare();
      await world.wallet.releaseTripFare(released.tripId);
      await world.bookingsReadUntil(after(released.hold.createdAt, 20 * MINUTE));
      world.clock = after(released.hold.createdAt, 25 * MINUTE);

      const report = await world.runOnce();
      assert.deepEqual(report.orphanHolds.reclaimed, []);
      assert.equal(report.orphanHolds.resolved, 1);
      assert.equal((await world.transfersOf(released.tripId)).filter((transfer) => transfer.kind === 'VOID_PENDING').length, 1);
    });

    it('voids the hold of a trip booked in CASH under the same trip id (a WALLET booking that died after its hold, retried in cash)', async () => {
      const { tripId, walletId, hold } = await world.heldFare();
      await world.booked([{ tripId, paymentMethod: 'CASH', requestedAt: after(hold.createdAt, 2 * MINUTE) }], after(hold.createdAt, 2 * MINUTE));
      await world.bookingsReadUntil(after(hold.createdAt, 20 * MINUTE));
      world.clock = after(hold.createdAt, 25 * MINUTE);

      const report = await world.runOnce();
      assert.deepEqual(report.orphanHolds.reclaimed.map((reclaimed) => [reclaimed.tripId, reclaimed.reason]), [[tripId, 'BOOKED_CASH']]);
      assert.equal(await world.available(walletId), 10_000n);
    });

    it("keeps a hold whose trip's TripRequested the consumer parked (whether the trip exists is unknown)", async () => {
      const { tripId, walletId, hold } = await world.heldFare();
      await world.sql(`insert into "wallet"."dead_events" ("consumer", "event_id", "type", "event", "attempts", "last_error") values (?, ?, 'TripRequested', ?, 1, 'breaks its contract')`, [
        TRIP_BOOKINGS_CONSUMER,
        randomUUID(),
        JSON.stringify({ type: 'TripRequested', key: tripId, data: { tripId } }),
      ]);
      await world.bookingsReadUntil(after(hold.createdAt, 20 * MINUTE));
      world.clock = after(hold.createdAt, 25 * MINUTE);

      const report = await world.runOnce();
      assert.deepEqual([report.orphanHolds.reclaimed.length, report.orphanHolds.parked], [0, 1]);
      assert.equal(await world.available(walletId), 10_000n - FARE);
    });

    it('voids an orphan hold once when two wallet replicas run the maintenance at the same time', async () => {
      if (!ON_POSTGRES) console.log('# on PGlite the two replicas share one connection: their transactions take turns');
      const orphans = await Promise.all(Array.from({ length: 6 }, () => world.heldFare()));
      const booked = await world.heldFare();
      await world.booked([{ tripId: booked.tripId, requestedAt: booked.hold.createdAt }], booked.hold.createdAt);
      const newest = orphans.map(({ hold }) => hold.createdAt.getTime()).reduce((a, b) => Math.max(a, b), booked.hold.createdAt.getTime());
      await world.bookingsReadUntil(new Date(newest + 11 * MINUTE));
      world.clock = new Date(newest + 15 * MINUTE);

      const replica = await world.replica();
      const reports = await Promise.all([world.maintenance().runOnce(), world.maintenance(replica).runOnce()]);
      for (const report of reports) assert.deepEqual(report.failures, []);

      for (const { tripId, walletId } of orphans) {
        const voids = (await world.transfersOf(tripId)).filter((transfer) => transfer.kind === 'VOID_PENDING');
        assert.equal(voids.length, 1, `trip ${tripId}: one void`);
        assert.equal(await world.available(walletId), 10_000n, 'the fare came back once');
      }
      const reclaimed = new Set(reports.flatMap((report) => report.orphanHolds.reclaimed.map((hold) => hold.tripId)));
      assert.deepEqual([...reclaimed].sort(), orphans.map(({ tripId }) => tripId).sort());
      assert.equal(tripLedgerOf(await world.transfersOf(booked.tripId)).holdResolution, null, 'the booked trip keeps its hold');
      assert.equal(await world.available(booked.walletId), 10_000n - FARE);
    });
  });

  describe('idempotency keys', () => {
    it('purges the keys older than the retention (24 h) and only those; a newer key still replays its transfer', async () => {
      const rider = await world.ledger.openAccount({ kind: 'RIDER_WALLET', ownerId: randomUUID() });
      const provider = await world.ledger.systemAccountId('PROVIDER_CLEARING');
      const deposit = (key: string) => world.ledger.transfer({ idempotencyKey: key, debitAccountId: provider, creditAccountId: rider.id, amount: 100n, code: 'DEPOSIT' });
      const [old, recent] = [`deposit:${randomUUID()}`, `deposit:${randomUUID()}`];
      await deposit(old);
      const recentTransfer = await deposit(recent);
      await world.sql(`update "wallet"."ledger_idempotency_keys" set "created_at" = now() - interval '25 hours' where "key" = ?`, [old]);
      await world.sql(`update "wallet"."ledger_idempotency_keys" set "created_at" = now() - interval '23 hours' where "key" = ?`, [recent]);

      const report = await world.runOnce();
      assert.equal(report.idempotencyKeys.purged, 1);
      const keys = await world.sql<{ key: string }>(`select "key" from "wallet"."ledger_idempotency_keys" where "key" in (?, ?)`, [old, recent]);
      assert.deepEqual(keys.map((row) => row.key), [recent]);
      assert.equal((await deposit(recent)).id, recentTransfer.id, 'the recent key replays its transfer');
      assert.equal(await world.available(rider.id), 200n);
    });
  });

  describe("drivers' receivables", () => {
    /**
     * A driver who drove CASH trips: 800 of commission taken from their wallet (within the 1,000 debt
     * limit), then 700 more recorded on their receivable (past it), as the trips' settlement does.
     */
    async function indebtedDriver() {
      const driverUserId = randomUUID();
      const settlement = new Settlement({ logger: world.logger });
      for (const [fare, commission] of [
        [5_000n, 800n],
        [4_000n, 700n],
      ] as const) {
        await world.ledger.transaction((tx) =>
          settlement.settle(tx, [{ type: 'COMPLETED', tripId: randomUUID(), riderId: randomUUID(), driverUserId, fare, commission, currency: 'EGP', method: 'CASH', at: new Date() }]),
        );
      }
      const wallet = (await world.ledger.findAccount('DRIVER_WALLET', driverUserId))!;
      const receivable = (await world.ledger.findAccount('DRIVER_RECEIVABLE', driverUserId))!;
      assert.deepEqual([balanceOf(wallet).posted, balanceOf(receivable).posted], [-800n, 700n]);
      return { driverUserId, walletId: wallet.id, receivableId: receivable.id };
    }
    const postedOf = async (accountId: string) => (await world.ledger.balance(accountId)).posted;

    it("moves min(available, debt) from the driver's wallet to their receivable once the wallet has money, leaving the debt drivers see unchanged", async () => {
      const { driverUserId, walletId, receivableId } = await indebtedDriver();
      assert.deepEqual((await world.runOnce()).receivables.swept, [], 'nothing to sweep while the wallet is below zero');

      await world.deposit(walletId, 1_000n); // the wallet at +200
      assert.equal((await world.wallet.commissionDebt(driverUserId)).debt, 500n);
      const first = await world.runOnce();
      assert.deepEqual(first.receivables.swept.map((sweep) => [sweep.driverUserId, sweep.amount]), [[driverUserId, 200n]]);
      assert.deepEqual([await postedOf(walletId), await postedOf(receivableId)], [0n, 500n]);
      assert.equal((await world.wallet.commissionDebt(driverUserId)).debt, 500n, 'the debt is counted once, before and after');

      await world.deposit(walletId, 2_000n);
      const second = await world.runOnce();
      assert.deepEqual(second.receivables.swept.map((sweep) => sweep.amount), [500n]);
      assert.deepEqual([await postedOf(walletId), await postedOf(receivableId)], [1_500n, 0n]);
      assert.equal((await world.wallet.commissionDebt(driverUserId)).debt, 0n);
      assert.deepEqual((await world.runOnce()).receivables.swept, [], 'a settled receivable is left alone');

      const sweeps = (await world.ledger.transfers(receivableId)).edges.map((edge) => edge.node).filter((transfer) => transfer.code === RECEIVABLE_SETTLEMENT);
      assert.deepEqual(sweeps.map((transfer) => [transfer.debitAccountId, transfer.amount]), [
        [walletId, 500n],
        [walletId, 200n],
      ]);
    });

    it('sweeps once when two wallet replicas run the maintenance at the same time', async () => {
      const drivers = await Promise.all([indebtedDriver(), indebtedDriver(), indebtedDriver()]);
      for (const { walletId } of drivers) await world.deposit(walletId, 1_300n); // +500 each: min(500, 700)
      const replica = await world.replica();

      const reports = await Promise.all([world.maintenance().runOnce(), world.maintenance(replica).runOnce()]);
      for (const report of reports) assert.deepEqual(report.failures, []);
      assert.equal(reports.flatMap((report) => report.receivables.swept).length, drivers.length, 'one sweep per driver between both replicas');
      for (const { driverUserId, walletId, receivableId } of drivers) {
        assert.deepEqual([await postedOf(walletId), await postedOf(receivableId)], [0n, 200n]);
        assert.equal((await world.wallet.commissionDebt(driverUserId)).debt, 200n);
        const sweeps = (await world.ledger.transfers(receivableId)).edges.filter((edge) => edge.node.code === RECEIVABLE_SETTLEMENT);
        assert.equal(sweeps.length, 1);
      }
    });
  });

  describe('trip bookings', () => {
    it('prunes bookings past their retention unless their trip still holds a fare', async () => {
      const open = await world.heldFare();
      const done = await world.heldFare();
      await world.wallet.releaseTripFare(done.tripId);
      const cash = randomUUID();
      const long = after(new Date(), -8 * 24 * 60 * MINUTE);
      await world.booked(
        [
          { tripId: open.tripId, requestedAt: long },
          { tripId: done.tripId, requestedAt: long },
          { tripId: cash, paymentMethod: 'CASH', requestedAt: long },
        ],
        long,
      );
      const recent = randomUUID();
      await world.booked([{ tripId: recent, paymentMethod: 'CASH', requestedAt: new Date() }], new Date());

      const report = await world.runOnce();
      assert.equal(report.tripBookings.pruned, 2);
      const left = await world.sql<{ trip_id: string }>(`select "trip_id" from "wallet"."trip_bookings" where "trip_id" = any(?::uuid[]) order by "trip_id"`, [`{${[open.tripId, done.tripId, cash, recent].join(',')}}`]);
      assert.deepEqual(left.map((row) => row.trip_id), [open.tripId, recent].sort());
    });
  });

  describe('its timer', () => {
    it('stop() waits for the run in flight, and no run starts after it', async () => {
      const maintenance = startWalletMaintenance({ ledger: world.ledger, db: world.db, logger: world.logger }, { intervalMs: 3_600_000 });
      let finished = false;
      const run = maintenance.runOnce().then((report) => {
        finished = true;
        return report;
      });
      await maintenance.stop();
      assert.equal(finished, true);
      assert.deepEqual((await run).failures, []);
      await assert.rejects(maintenance.runOnce(), /stopped/);
    });
  });
});

describe("the maintenance's migration", () => {
  it('records the trips of the fare holds open when it runs (booked before bookings were recorded), so the reclaim keeps their holds', async () => {
    const database = await createTestDatabase();
    const riderId = randomUUID();
    const [heldTrip, releasedTrip] = [randomUUID(), randomUUID()];
    // A wallet before the maintenance existed: one trip's fare still held, another's released.
    const earlier = await openWalletDatabase(database, setupBefore);
    try {
      const ledger = new Ledger(earlier);
      const service = new WalletService({ ledger, driverDebtLimit: DEBT_LIMIT, logger: createLogger(loadConfig('wallet', testEnvironment(database))) });
      const wallet = await ledger.openAccount({ kind: 'RIDER_WALLET', ownerId: riderId });
      await ledger.transfer({ idempotencyKey: `deposit:${randomUUID()}`, debitAccountId: await ledger.systemAccountId('PROVIDER_CLEARING'), creditAccountId: wallet.id, amount: 20_000n, code: 'DEPOSIT' });
      for (const tripId of [heldTrip, releasedTrip]) await service.holdTripFare({ tripId, riderId, amount: { minor: FARE, currency: 'EGP' } });
      await service.releaseTripFare(releasedTrip);
      await ledger.close();
    } finally {
      await earlier.close();
    }

    const world = await World.create(database);
    try {
      const rows = await world.sql<{ trip_id: string; payment_method: string | null }>(`select "trip_id", "payment_method" from "wallet"."trip_bookings"`);
      assert.deepEqual(rows, [{ trip_id: heldTrip, payment_method: null }]);

      const hold = tripLedgerOf(await world.transfersOf(heldTrip)).hold!;
      await world.bookingsReadUntil(after(hold.createdAt, 30 * MINUTE));
      world.clock = after(hold.createdAt, 35 * MINUTE);
      const report = await world.runOnce();
      assert.deepEqual([report.orphanHolds.reclaimed.length, report.orphanHolds.kept, report.orphanHolds.resolved], [0, 1, 1]);
      assert.equal(tripLedgerOf(await world.transfersOf(heldTrip)).holdResolution, null);
      await world.assertBalanced();
    } finally {
      await world.dispose();
    }
  });
});

describe("the bookings consumer on trips' stream", () => {
  it('records the TripRequested trips writes with a trip, once, even when the relay publishes it again', async () => {
    // Until index.ts registers the consumer and lists the migration, this test's wallet does both.
    const wired = walletSubgraph.migrations.some((own) => maintenanceMigrations.some((entry) => entry.name === own.name));
    const base = createWalletSubgraph();
    const wallet: SubgraphSetup = wired
      ? base
      : {
          ...base,
          migrations: setup.migrations,
          async define(runtime) {
            const definition = await base.define(runtime);
            consumeTripBookings(runtime);
            return definition;
          },
        };
    const stack = await startStack({ subgraphs: ['trips', 'wallet'], events: { retryAfterMs: 300 }, setups: { wallet } });
    try {
      const trips = stack.subgraph('trips');
      const tripId = randomUUID();
      const requestedAt = new Date();
      const insert = trips.runtime.events.outboxInsert({
        contract: TripRequested,
        key: tripId,
        data: { tripId, riderId: randomUUID(), quoteId: randomUUID(), vehicleType: 'ECONOMY', pickup: { lat: 30.04, lng: 31.23 }, dropoff: { lat: 30.06, lng: 31.25 }, fareMinor: '8750', currency: 'EGP', paymentMethod: 'WALLET', requestedAt: requestedAt.toISOString() },
      });
      await executeStatement(trips.db.fork(), insert.sql, insert.params);
      await trips.runtime.events.flush();
      const bookings = () => executeStatement<{ payment_method: string; requested_at: Date | string }>(stack.subgraph('wallet').db.fork(), `select "payment_method", "requested_at" from "wallet"."trip_bookings" where "trip_id" = ?`, [tripId]);
      const [row] = await waitFor(async () => ((await bookings()).length > 0 ? bookings() : undefined), { what: 'the booking to be recorded' });
      assert.deepEqual([row!.payment_method, new Date(row!.requested_at).getTime()], ['WALLET', requestedAt.getTime()]);

      // The same event again (a relay that died between publishing and marking it), then a later event to wait for.
      await executeStatement(trips.db.fork(), `update "trips"."outbox" set "published_at" = null where "id" = ?`, [insert.event.id]);
      await trips.runtime.events.flush();
      const later = randomUUID();
      const next = trips.runtime.events.outboxInsert({ contract: TripRequested, key: later, data: { ...insert.event.data, tripId: later, paymentMethod: 'CASH' } });
      await executeStatement(trips.db.fork(), next.sql, next.params);
      await trips.runtime.events.flush();
      const processed = () =>
        executeStatement<{ count: number }>(stack.subgraph('wallet').db.fork(), `select count(*)::int as "count" from "wallet"."processed_events" where "consumer" = ?`, [TRIP_BOOKINGS_CONSUMER]);
      await waitFor(async () => ((await processed())[0]!.count >= 2 ? true : undefined), { what: 'both events to be processed' });
      assert.equal((await bookings()).length, 1);
      const parked = await executeStatement(stack.subgraph('wallet').db.fork(), `select 1 from "wallet"."dead_events" where "consumer" = ?`, [TRIP_BOOKINGS_CONSUMER]);
      assert.equal(parked.length, 0);
    } finally {
      await stack.stop();
    }
  });
});
