import type { Database } from '../../../platform/db.ts';
import type { Logger } from '../../../platform/logger.ts';
import { inList, OFFERS, placeholders, query } from '../rows.ts';
import type { DriverDirectory } from './directory.ts';

/** Answers that leave a driver OFFERED in drivers until trips releases them. */
const RELEASABLE = ['DECLINED', 'EXPIRED', 'WITHDRAWN'] as const;
const SWEEP_BATCH = 200;

/**
 * Puts drivers whose offer ended without a match back to AVAILABLE in drivers, and records that it did.
 * Releasing is idempotent on drivers' side (only OFFERED-for-this-trip moves), so a release that fails
 * (drivers unreachable) is simply retried by `sweep`, which every dispatcher loop runs.
 */
export class DriverReleases {
  readonly #directory: DriverDirectory;
  readonly #db: Database;
  readonly #logger: Logger;

  constructor(directory: DriverDirectory, db: Database, logger: Logger) {
    this.#directory = directory;
    this.#db = db;
    this.#logger = logger;
  }

  /** Never throws: the caller's state change is already committed, and the sweep retries. */
  async release(tripId: string, driverIds: readonly string[]): Promise<void> {
    if (driverIds.length === 0) return;
    try {
      await this.#directory.release(tripId, [...driverIds]);
      await query(this.#db.fork(), `update ${OFFERS} set "released_at" = ? where "trip_id" = ? and "driver_id" in ${placeholders(driverIds)} and "released_at" is null`, [new Date(), tripId, ...driverIds]);
    } catch (error) {
      this.#logger.warn({ err: error, tripId, drivers: driverIds.length }, 'could not release offered drivers; the sweep will retry');
    }
  }

  /** Releases drivers of offers answered before `answeredBefore` that are still unreleased. */
  async sweep(answeredBefore: Date): Promise<void> {
    const rows = await query<{ trip_id: string; driver_id: string }>(
      this.#db.fork(),
      `select "trip_id", "driver_id" from ${OFFERS} where "released_at" is null and "status" in ${inList(RELEASABLE)} and "answered_at" < ? limit ${SWEEP_BATCH}`,
      [answeredBefore],
    );
    const byTrip = new Map<string, string[]>();
    for (const row of rows) byTrip.set(row.trip_id, [...(byTrip.get(row.trip_id) ?? []), row.driver_id]);
    for (const [tripId, driverIds] of byTrip) await this.release(tripId, driverIds);
  }
}
