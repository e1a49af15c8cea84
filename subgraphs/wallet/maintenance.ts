/**
 * The wallet's background maintenance: a run every `intervalMs` on each wallet replica, each task bounded
 * and safe to run on several replicas at once (they may race: the ledger's idempotency keys and row locks
 * decide, and nothing moves twice).
 *
 *   orphan holds       a WALLET trip's fare held at booking whose trip was never written (trips died between
 *                      the hold and the insert, or its release failed) is voided, giving the rider their
 *                      money back, once it is older than the grace period and the wallet has read trips'
 *                      bookings past it (trip-bookings.ts)
 *   idempotency keys   the ledger's keys older than its retention (at least 24 h) are deleted
 *   receivables        a driver whose cash commission went past their wallet's debt limit owes it on their
 *                      receivable; once their wallet has money available, min(available, debt) moves from the
 *                      wallet to the receivable
 *   trip bookings      the bookings of trips no fare hold is open for are deleted after a retention
 *
 * A task that fails is logged and reported; the others still run, and it is tried again at the next run.
 *
 * One race is left to the trip's settlement: trips adopts the hold of an earlier attempt when a booking is
 * retried with the same key (same trip id). A retry arriving after the grace period, in the instant between
 * the reclaim's read and its void, books a trip whose hold was just released; at completion its
 * settlement then charges the fare by a transfer from the wallet instead (settlement.ts), if it covers it.
 */
import { AppError } from '../../platform/errors.ts';
import type { EntityManager } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { isUuid } from '../../platform/validation.ts';
import { balanceOf, type Account, type Ledger, type Transfer, type TransferWithParties } from './ledger/index.ts';
import { MaintenanceRepository, type ScannedTransfer } from './ledger/maintenance-repository.ts';
import { TripBookings } from './trip-bookings.ts';
import { CODES, openHold, releaseKey, tripLedgerOf } from './trip-ledger.ts';

/** The code of a transfer that pays a driver's receivable from their wallet. */
export const RECEIVABLE_SETTLEMENT = 'RECEIVABLE_SETTLEMENT';

/** The idempotency key of a receivable sweep: the receivable's credits posted before it, so each state of the receivable is swept at most once. */
export const receivableSweepKey = (receivableId: string, creditsPosted: bigint) => `receivable-sweep:${receivableId}:${creditsPosted}`;

export interface WalletMaintenanceDeps {
  ledger: Ledger;
  /** The wallet's database (the runtime's): the trip bookings and the hold and receivable scans. */
  db: { fork(): EntityManager };
  logger: Logger;
}

export interface WalletMaintenanceOptions {
  /** Time between the end of a run and the start of the next, and before the first; 0: no timer (runOnce only). Default 60 s. */
  intervalMs?: number;
  /** A fare hold younger than this is never voided as an orphan; also how long a booking may take after its hold. Default 10 min. */
  orphanHoldGraceMs?: number;
  /** How long ago the booking that proves the consumer read past a hold must have been recorded (its redeliveries settled). Default 2 min. */
  bookingConfirmationMs?: number;
  /** How far back a process's first scan of fare holds starts. Default 3 days. */
  holdLookbackMs?: number;
  /** Clearing-account transfers read per statement, and statements per clearing account per run. Defaults 500 and 20. */
  holdScanBatchSize?: number;
  maxHoldScanBatches?: number;
  /** Receivables read per statement (each swept in a transaction of its own), and statements per run. Defaults 100 and 10. */
  sweepBatchSize?: number;
  maxSweepBatches?: number;
  /** How long a booking is kept once no fare hold of its trip is open. Default 7 days. */
  bookingRetentionMs?: number;
  /** Bookings read per statement when pruning, and statements per run. Defaults 1,000 and 10. */
  pruneBatchSize?: number;
  maxPruneBatches?: number;
  /** The clock (tests move it). */
  now?: () => Date;
}

export type MaintenanceTask = 'orphanHolds' | 'idempotencyKeys' | 'receivables' | 'tripBookings';

export interface ReclaimedHold {
  tripId: string;
  holdId: string;
  riderId: string | null;
  amount: bigint;
  currency: string;
  /** NO_TRIP: trips never booked it; BOOKED_CASH: booked as a CASH trip, whose settlement never touches a hold. */
  reason: 'NO_TRIP' | 'BOOKED_CASH';
}

export interface ReceivableSweep {
  driverUserId: string;
  receivableId: string;
  amount: bigint;
  currency: string;
  transferId: string;
}

export interface MaintenanceReport {
  /** The run's time (the clock's, once per run). */
  at: Date;
  orphanHolds: {
    /** How far trips' bookings were read (null: none recorded yet, nothing can be voided). */
    watermark: Date | null;
    /** Holds created up to this time were judged in this run. */
    cutoff: Date | null;
    /** Clearing-account transfers read. */
    scanned: number;
    /** Holds this run voided (or found voided under the same key by a replica racing it). */
    reclaimed: ReclaimedHold[];
    /** Open holds of trips that exist. */
    kept: number;
    /** Holds already posted or voided. */
    resolved: number;
    /** Open holds kept because their trip's TripRequested was parked in dead_events. */
    parked: number;
  };
  idempotencyKeys: { purged: number };
  receivables: { swept: ReceivableSweep[] };
  tripBookings: { pruned: number };
  failures: Array<{ task: MaintenanceTask; error: unknown }>;
}

export interface WalletMaintenance {
  /** One run of every task now (after the one in flight, if any). */
  runOnce(): Promise<MaintenanceReport>;
  /** Stops the timer and waits for the run in flight. */
  stop(): Promise<void>;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Starts the maintenance of one wallet process: its first run `intervalMs` from now (the consumers have caught up by then). */
export function startWalletMaintenance(deps: WalletMaintenanceDeps, options: WalletMaintenanceOptions = {}): WalletMaintenance {
  const maintenance = new Maintenance(deps, options);
  const intervalMs = options.intervalMs ?? MINUTE;
  if (!(intervalMs >= 0)) throw new Error('intervalMs must not be negative');
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<MaintenanceReport> | undefined;
  let stopped = false;

  const runOnce = (): Promise<MaintenanceReport> => {
    if (stopped) return Promise.reject(new Error('the wallet maintenance is stopped'));
    const run = (inFlight ?? Promise.resolve()).catch(() => undefined).then(() => maintenance.run());
    inFlight = run;
    void run.finally(() => {
      if (inFlight === run) inFlight = undefined;
    }).catch(() => undefined);
    return run;
  };
  const schedule = () => {
    if (stopped || intervalMs === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      runOnce()
        .catch((error) => deps.logger.error({ err: error }, 'wallet maintenance run failed'))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight?.catch(() => undefined);
    },
  };
}

class Maintenance {
  readonly #ledger: Ledger;
  readonly #logger: Logger;
  readonly #repository: MaintenanceRepository;
  readonly #bookings: TripBookings;
  readonly #now: () => Date;
  readonly #graceMs: number;
  readonly #confirmationMs: number;
  readonly #lookbackMs: number;
  readonly #scanBatch: number;
  readonly #maxScanBatches: number;
  readonly #sweepBatch: number;
  readonly #maxSweepBatches: number;
  readonly #bookingRetentionMs: number;
  readonly #pruneBatch: number;
  readonly #maxPruneBatches: number;
  /** Per clearing account: the seq up to which every transfer has been judged (this process's; each replica keeps its own). */
  readonly #holdCursors = new Map<string, bigint>();
  #pruneCursor: { recordedAt: Date; tripId: string } | null = null;

  constructor(deps: WalletMaintenanceDeps, options: WalletMaintenanceOptions) {
    this.#ledger = deps.ledger;
    this.#logger = deps.logger;
    this.#repository = new MaintenanceRepository(deps.db);
    this.#bookings = new TripBookings(deps.db);
    this.#now = options.now ?? (() => new Date());
    this.#graceMs = positive('orphanHoldGraceMs', options.orphanHoldGraceMs ?? 10 * MINUTE);
    this.#confirmationMs = positive('bookingConfirmationMs', options.bookingConfirmationMs ?? 2 * MINUTE);
    this.#lookbackMs = positive('holdLookbackMs', options.holdLookbackMs ?? 3 * DAY);
    this.#scanBatch = positive('holdScanBatchSize', options.holdScanBatchSize ?? 500);
    this.#maxScanBatches = positive('maxHoldScanBatches', options.maxHoldScanBatches ?? 20);
    this.#sweepBatch = positive('sweepBatchSize', options.sweepBatchSize ?? 100);
    this.#maxSweepBatches = positive('maxSweepBatches', options.maxSweepBatches ?? 10);
    this.#bookingRetentionMs = positive('bookingRetentionMs', options.bookingRetentionMs ?? 7 * DAY);
    this.#pruneBatch = positive('pruneBatchSize', options.pruneBatchSize ?? 1_000);
    this.#maxPruneBatches = positive('maxPruneBatches', options.maxPruneBatches ?? 10);
  }

  async run(): Promise<MaintenanceReport> {
    const at = this.#now();
    const report: MaintenanceReport = {
      at,
      orphanHolds: { watermark: null, cutoff: null, scanned: 0, reclaimed: [], kept: 0, resolved: 0, parked: 0 },
      idempotencyKeys: { purged: 0 },
      receivables: { swept: [] },
      tripBookings: { pruned: 0 },
      failures: [],
    };
    const task = async (name: MaintenanceTask, work: () => Promise<void>) => {
      try {
        await work();
      } catch (error) {
        report.failures.push({ task: name, error });
        this.#logger.error({ err: error, task: name }, 'wallet maintenance task failed; it runs again next time');
      }
    };
    await task('orphanHolds', () => this.#reclaimOrphanHolds(at, report.orphanHolds));
    await task('idempotencyKeys', async () => {
      report.idempotencyKeys.purged = await this.#ledger.purgeIdempotencyKeys(at);
    });
    await task('receivables', () => this.#sweepReceivables(report.receivables.swept));
    await task('tripBookings', async () => {
      report.tripBookings.pruned = await this.#pruneBookings(at);
    });
    const { orphanHolds, idempotencyKeys, receivables, tripBookings } = report;
    if (orphanHolds.reclaimed.length + idempotencyKeys.purged + receivables.swept.length + tripBookings.pruned > 0) {
      this.#logger.info(
        { reclaimedHolds: orphanHolds.reclaimed.length, purgedKeys: idempotencyKeys.purged, sweptReceivables: receivables.swept.length, prunedBookings: tripBookings.pruned },
        'wallet maintenance run',
      );
    }
    return report;
  }

  // ── orphan holds ──────────────────────────────────────────────────────────────────────────────

  /**
   * Reads each trip clearing account's credits (every fare hold credits it) in seq order from where this
   * process stopped, judging the holds created up to the cutoff: the grace period ago, and no later than the
   * grace period before the bookings watermark (trip-bookings.ts), so a hold is judged only once the
   * booking of its trip, had there been one, is surely recorded. The scan stops at the first transfer
   * younger than the cutoff and resumes there next run. Several replicas scan alike: a hold two of them
   * judge an orphan is voided once (one key, releaseKey: the release trips asks for; a pending transfer is
   * resolved at most once).
   */
  async #reclaimOrphanHolds(at: Date, report: MaintenanceReport['orphanHolds']) {
    const watermark = await this.#bookings.watermark(new Date(at.getTime() - this.#confirmationMs));
    report.watermark = watermark;
    if (!watermark) return;
    const cutoff = new Date(Math.min(at.getTime() - this.#graceMs, watermark.getTime() - this.#graceMs));
    report.cutoff = cutoff;
    let parked: Set<string> | undefined;
    for (const clearing of await this.#repository.systemAccountIds('TRIP_CLEARING')) {
      let cursor = this.#holdCursors.get(clearing) ?? (await this.#repository.lastCreditSeqBefore(clearing, new Date(at.getTime() - this.#lookbackMs)));
      for (let batch = 0; batch < this.#maxScanBatches; batch += 1) {
        const rows = await this.#repository.creditsAfter(clearing, cursor, this.#scanBatch);
        const young = rows.findIndex((row) => row.createdAt > cutoff);
        const ripe = young === -1 ? rows : rows.slice(0, young);
        const holds = ripe.filter((row) => row.kind === 'PENDING' && row.code === CODES.TRIP_FARE && row.reference !== null && isUuid(row.reference));
        if (holds.length > 0) await this.#judge(holds, (parked ??= await this.#bookings.parkedTripIds()), report);
        report.scanned += ripe.length;
        if (ripe.length > 0) cursor = ripe.at(-1)!.seq;
        this.#holdCursors.set(clearing, cursor);
        if (ripe.length < this.#scanBatch) break;
      }
    }
  }

  /** The holds' trips' transfers and bookings (two statements), then every orphan among them voided in one ledger batch. */
  async #judge(holds: readonly ScannedTransfer[], parked: ReadonlySet<string>, report: MaintenanceReport['orphanHolds']) {
    const references = [...new Set(holds.map((hold) => hold.reference!))];
    const byTrip = new Map<string, TransferWithParties[]>(references.map((reference) => [reference, []]));
    for (const transfer of await this.#ledger.transfersByReferences(references)) byTrip.get(transfer.reference!)?.push(transfer);
    const bookings = await this.#bookings.of(references);

    const orphans: Array<{ hold: TransferWithParties; reason: ReclaimedHold['reason'] }> = [];
    for (const scanned of holds) {
      const tripId = scanned.reference!;
      const open = openHold(tripLedgerOf(byTrip.get(tripId)!));
      // Posted or voided already (or not the trip's hold: a trip has one): its trip's settlement or trips' release resolved it.
      if (!open || open.id !== scanned.id) {
        report.resolved += 1;
        continue;
      }
      const booking = bookings.get(tripId.toLowerCase());
      // The trip exists and pays from the wallet (or was booked before bookings were recorded): its settlement resolves the hold.
      if (booking && booking.paymentMethod !== 'CASH') {
        report.kept += 1;
        continue;
      }
      if (parked.has(tripId.toLowerCase())) {
        report.parked += 1;
        this.#logger.warn({ tripId, holdId: open.id }, "fare hold kept: its trip's TripRequested is parked in dead_events");
        continue;
      }
      // No trip, or a trip booked in CASH with the same id (a WALLET booking that died after its hold, retried
      // in CASH): a CASH completion never touches a hold, so nothing else would ever release it.
      orphans.push({ hold: open, reason: booking ? 'BOOKED_CASH' : 'NO_TRIP' });
    }
    if (orphans.length === 0) return;

    const voids = await Promise.allSettled(orphans.map(({ hold }) => this.#ledger.void({ idempotencyKey: releaseKey(hold.reference!), pendingId: hold.id })));
    let failure: unknown;
    voids.forEach((result, i) => {
      const { hold, reason } = orphans[i]!;
      if (result.status === 'rejected') {
        // Resolved between the read and the void (settled, released by trips, voided by a replica under another key).
        if (result.reason instanceof AppError && result.reason.code === 'CONFLICT' && String(result.reason.extensions.reason).startsWith('PENDING_ALREADY_')) report.resolved += 1;
        else failure ??= result.reason;
        return;
      }
      const reclaimed: ReclaimedHold = { tripId: hold.reference!, holdId: hold.id, riderId: hold.debitAccount.ownerId, amount: hold.amount, currency: hold.currency, reason };
      report.reclaimed.push(reclaimed);
      this.#logger.warn({ ...reclaimed, amount: String(hold.amount), heldAt: hold.createdAt }, 'orphan fare hold released: the rider has the money back');
    });
    // The batch is judged again by the next run (the cursor stays before it).
    if (failure) throw failure;
  }

  // ── receivables ───────────────────────────────────────────────────────────────────────────────

  /** Every driver whose receivable shows a debt and whose wallet has money available, in receivable id order, each swept in a transaction of its own. */
  async #sweepReceivables(swept: ReceivableSweep[]) {
    let after: string | null = null;
    for (let batch = 0; batch < this.#maxSweepBatches; batch += 1) {
      const candidates = await this.#repository.sweepableReceivables(after, this.#sweepBatch);
      for (const candidate of candidates) {
        const sweep = await this.#sweep(candidate.walletId, candidate.receivableId);
        if (sweep) {
          swept.push({ driverUserId: candidate.ownerId, receivableId: candidate.receivableId, amount: sweep.amount, currency: sweep.currency, transferId: sweep.id });
          this.#logger.info({ driverUserId: candidate.ownerId, amount: String(sweep.amount), currency: sweep.currency }, "commission debt paid from the driver's wallet to their receivable");
        }
      }
      if (candidates.length < this.#sweepBatch) return;
      after = candidates.at(-1)!.receivableId;
    }
  }

  /**
   * Moves min(wallet available, receivable debt) from the driver's wallet to their receivable: both rows
   * locked first (so the amount read still holds when the transfer applies, and a racing replica reads the
   * result), the transfer in the same transaction with a key naming the receivable's state. The debt
   * drivers see (WalletService.commissionDebt: receivable minus wallet, posted) is the same before and
   * after; the receivable then shows what is still owed, and the wallet no longer shows money that is owed.
   */
  #sweep(walletId: string, receivableId: string): Promise<Transfer | null> {
    return this.#ledger.transaction(async (tx) => {
      // In id order, as every batch locks (no cycle with a batch touching both).
      const locked = new Map<string, Account | null>();
      for (const id of [walletId, receivableId].sort()) locked.set(id, await tx.lockAccount(id));
      const [wallet, receivable] = [locked.get(walletId), locked.get(receivableId)];
      if (!wallet || !receivable) return null;
      const available = balanceOf(wallet).available;
      const owed = balanceOf(receivable).available;
      const amount = available < owed ? available : owed;
      if (amount <= 0n) return null; // swept meanwhile, or the wallet spent
      const [outcome] = await tx.apply([
        {
          op: 'transfer',
          input: { idempotencyKey: receivableSweepKey(receivableId, receivable.creditsPosted), debitAccountId: walletId, creditAccountId: receivableId, amount, currency: wallet.currency, code: RECEIVABLE_SETTLEMENT },
        },
      ]);
      if ('error' in outcome!) throw outcome.error;
      return outcome.transfer;
    });
  }

  // ── trip bookings ─────────────────────────────────────────────────────────────────────────────

  /**
   * Deletes bookings recorded more than the retention ago whose trip has no open fare hold (a booking
   * matters only while it protects a hold). Reads them in (recorded_at, trip_id) order from where this
   * process stopped, starting over once it reaches the end.
   */
  async #pruneBookings(at: Date): Promise<number> {
    const before = new Date(at.getTime() - this.#bookingRetentionMs);
    let pruned = 0;
    for (let batch = 0; batch < this.#maxPruneBatches; batch += 1) {
      const old = await this.#bookings.recordedBefore(before, this.#pruneCursor, this.#pruneBatch);
      if (old.length === 0) {
        this.#pruneCursor = null;
        break;
      }
      const references = old.map((booking) => booking.tripId);
      const byTrip = new Map<string, Transfer[]>();
      for (const transfer of await this.#ledger.transfersByReferences(references)) byTrip.set(transfer.reference!, [...(byTrip.get(transfer.reference!) ?? []), transfer]);
      pruned += await this.#bookings.delete(references.filter((tripId) => !openHold(tripLedgerOf(byTrip.get(tripId) ?? []))));
      const last = old.at(-1)!;
      this.#pruneCursor = old.length < this.#pruneBatch ? null : { recordedAt: last.recordedAt, tripId: last.tripId };
      if (!this.#pruneCursor) break;
    }
    return pruned;
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`${name} must be a positive number`);
  return value;
}
