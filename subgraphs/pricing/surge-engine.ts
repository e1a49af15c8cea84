import type { Database, EntityManager } from '../../platform/db.ts';
import type { SupplySnapshotData, TripRequestedData } from '../../platform/events/contracts/index.ts';
import { runInBackground } from '../../platform/events/index.ts';
import type { Logger } from '../../platform/logger.ts';
import { allCells, demandBetween, latestSupply, pruneInputs, recordDemand, recordSupply, saveCells, claimTick, type SurgeCellRow } from './surge-store.ts';
import { cellOf, DEMAND_WINDOW_MS, QUIET_CELL, smoothSurge, SURGE_FLOOR, SURGE_RESOLUTION, surgeTarget } from './surge.ts';

/** A supply snapshot older than this is no reading at all (drivers stopped publishing). */
export function supplyFreshnessMs(snapshotIntervalMs: number): number {
  return Math.max(3 * snapshotIntervalMs, 90_000);
}

/** Snapshots are kept this long (only the newest fresh one is read). */
const SUPPLY_RETENTION_MS = 60 * 60_000;

export interface SurgeEngineOptions {
  db: Pick<Database, 'fork'>;
  logger: Logger;
  /** How often `start()` recomputes (config.pricing.surgeIntervalMs). */
  intervalMs: number;
  /** drivers' snapshot interval (config.drivers.supplySnapshotIntervalMs): how fresh supply must be. */
  supplySnapshotIntervalMs: number;
  now?: () => Date;
}

export interface RecomputeResult {
  /** False when another replica is running this tick or already ran it. */
  computed: boolean;
  /** Cells written (upserted) and removed (back to a quiet 1.00). */
  written: number;
  removed: number;
}

/** What a TripRequested tells surge: one unit of demand in the pickup's cell. */
export type TripDemand = Pick<TripRequestedData, 'tripId' | 'pickup' | 'requestedAt'>;

/**
 * Turns trip requests and driver supply into a surge multiplier per res-8 cell, every interval, on
 * one replica at a time (a transaction-scoped advisory lock). Everything is in Postgres, so the
 * state survives restarts and is shared by replicas; the clock is injectable for tests.
 */
export class SurgeEngine {
  readonly #db: Pick<Database, 'fork'>;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #freshMs: number;
  readonly #now: () => Date;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(options: SurgeEngineOptions) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs;
    this.#freshMs = supplyFreshnessMs(options.supplySnapshotIntervalMs);
    this.#now = options.now ?? (() => new Date());
  }

  /** TripRequested events: one demand each in its pickup's cell (one statement for them all; a redelivered event counts once). */
  async recordTripsRequested(em: EntityManager, demands: readonly TripDemand[]) {
    await recordDemand(em, demands.map((demand) => ({ tripId: demand.tripId, h3Cell: cellOf(demand.pickup), requestedAt: new Date(demand.requestedAt) })));
  }

  /**
   * SupplySnapshot: kept as received; false (and nothing stored) when its cells are not surge's. The
   * contract fixes the resolution, and the compiler refuses this comparison should SURGE_RESOLUTION
   * ever differ from it.
   */
  async recordSupplySnapshot(em: EntityManager, snapshot: SupplySnapshotData): Promise<boolean> {
    if (snapshot.resolution !== SURGE_RESOLUTION) return false;
    await recordSupply(em, { takenAt: new Date(snapshot.takenAt), resolution: snapshot.resolution, cells: snapshot.cells });
    return true;
  }

  /**
   * One tick at `at`: demand of the last 10 minutes and the newest fresh supply give every cell its
   * target; smoothing moves the published multiplier toward it. Cells back at a quiet 1.00 are dropped.
   */
  async recompute(at: Date = this.#now()): Promise<RecomputeResult> {
    return this.#db.fork().transactional(async (em) => {
      if (!(await claimTick(em, at, this.#intervalMs))) return { computed: false, written: 0, removed: 0 };
      const now = at.getTime();
      const demandFrom = new Date(now - DEMAND_WINDOW_MS);
      const [demand, supply, existing] = await Promise.all([demandBetween(em, demandFrom, at), latestSupply(em, new Date(now - this.#freshMs), at), allCells(em)]);
      const previous = new Map(existing.map((cell) => [cell.h3Cell, cell]));
      const cells = new Set([...demand.keys(), ...(supply?.cells.keys() ?? []), ...previous.keys()]);
      const upserts: SurgeCellRow[] = [];
      const removals: string[] = [];
      for (const h3Cell of cells) {
        const cellDemand = demand.get(h3Cell) ?? 0;
        const cellSupply = supply ? (supply.cells.get(h3Cell) ?? 0) : null;
        const target = surgeTarget(cellDemand, cellSupply);
        const state = smoothSurge(previous.get(h3Cell) ?? QUIET_CELL, target, now);
        if (state.multiplier === SURGE_FLOOR && cellDemand === 0 && !cellSupply) {
          if (previous.has(h3Cell)) removals.push(h3Cell);
          continue;
        }
        upserts.push({ h3Cell, ...state, changedAt: Number.isFinite(state.changedAt) ? state.changedAt : now, target, demand: cellDemand, supply: cellSupply, computedAt: now });
      }
      await saveCells(em, upserts, removals);
      await pruneInputs(em, demandFrom, new Date(now - SUPPLY_RETENTION_MS));
      return { computed: true, written: upserts.length, removed: removals.length };
    });
  }

  /** Recomputes every interval until stop(); a failed tick is logged and the next one tries again. */
  start() {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return; // a slow tick is not stacked on
      this.#running = runInBackground(() => this.recompute())
        .catch((error: unknown) => this.#logger.error({ err: error }, 'surge recompute failed'))
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#intervalMs);
    // The server keeps the process alive; a subgraph that failed to start must not be kept alive by this.
    this.#timer.unref();
  }

  async stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
