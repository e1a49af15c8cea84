import type { Database } from '../../../platform/db.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PubSub } from '../../../platform/pubsub.ts';
import type { Availability, DriverRef, TransitionResult } from '../availability.ts';
import type { VehicleType } from '../entities.ts';
import { isIndexable, judgeFixes, locationMessage, type Fix, type LiveRules } from './fixes.ts';
import { cellOf, coveringRanges, EARTH_RADIUS_M } from './geo.ts';
import type { DriverKeys } from './keys.ts';
import { UNKNOWN_DRIVER, type IngestOptions, type IngestOutcome, type LiveDriverState, type LiveStore, type NearbyCandidate, type NearbyQuery } from './store.ts';

export const POSITIONS_TABLE = '"drivers"."driver_positions"';

interface Entry {
  availability: Availability;
  userId: string;
  vehicleType: VehicleType;
  fix: Fix | null;
  /** Whether the fix is in the searchable index (a GEO set member, in Redis terms). */
  indexed: boolean;
  spoofingSince: number | null;
  presenceUntil: number;
  rateLimitedUntil: number;
}

/** Ties and float differences between SQL and JS distances: fetch this many more than asked, this much wider. */
const EXTRA_ROWS = 16;
const MARGIN_M = 1;

/**
 * Embedded mode (no Redis; one process is the only replica): state lives in this process, and positions
 * are mirrored to `driver_positions` (with their res-9 H3 cell) so nearbyDrivers is answered by Postgres.
 * Every check-and-write happens synchronously on the event loop, so it is atomic like a Lua script;
 * table writes are chained in order, each writing the driver's whole current row, and awaited by the
 * call that caused them (a caller reads its own writes).
 */
export class EmbeddedLiveStore implements LiveStore {
  readonly kind = 'embedded';
  readonly #entries = new Map<string, Entry>();
  readonly #db: Database;
  readonly #pubsub: PubSub;
  readonly #keys: DriverKeys;
  readonly #rules: LiveRules;
  readonly #logger: Logger;
  #writes: Promise<void> = Promise.resolve();

  constructor(options: { db: Database; pubsub: PubSub; keys: DriverKeys; rules: LiveRules; logger: Logger }) {
    this.#db = options.db;
    this.#pubsub = options.pubsub;
    this.#keys = options.keys;
    this.#rules = options.rules;
    this.#logger = options.logger;
  }

  /** The state died with the last process: so does its mirror. */
  async start() {
    await this.#db.orm.em.getConnection().execute(`delete from ${POSITIONS_TABLE}`, [], 'run');
  }

  async read(driverIds: readonly string[]): Promise<Map<string, LiveDriverState>> {
    return new Map(
      driverIds.map((id) => {
        const entry = this.#entries.get(id);
        return [id, entry ? { availability: entry.availability, fix: entry.fix, spoofingSince: entry.spoofingSince } : UNKNOWN_DRIVER];
      }),
    );
  }

  async availability(driverIds: readonly string[]): Promise<Map<string, Availability>> {
    return new Map(driverIds.map((id) => [id, this.#entries.get(id)?.availability ?? 'OFFLINE']));
  }

  async transition(driver: DriverRef, to: Availability, from: readonly Availability[], now: number): Promise<TransitionResult> {
    const entry = this.#entries.get(driver.id);
    const previous = entry?.availability ?? 'OFFLINE';
    if (!from.includes(previous)) return { moved: false, previous };
    const next: Entry = entry ?? { availability: 'OFFLINE', userId: driver.userId, vehicleType: driver.vehicleType, fix: null, indexed: false, spoofingSince: null, presenceUntil: 0, rateLimitedUntil: 0 };
    next.availability = to;
    if (to === 'OFFLINE') {
      next.presenceUntil = 0;
      next.indexed = false;
    } else if (previous === 'OFFLINE') next.presenceUntil = now + this.#rules.presenceTtlMs;
    this.#entries.set(driver.id, next);
    await this.#mirror(driver.id);
    return { moved: true, previous };
  }

  async ingest(driver: DriverRef, fixes: readonly Fix[], options: IngestOptions): Promise<IngestOutcome> {
    const entry = this.#entries.get(driver.id);
    if (!entry || entry.availability === 'OFFLINE') return { kind: 'NOT_ONLINE', availability: 'OFFLINE' };
    const { now } = options;
    if (options.rateLimited) {
      if (entry.rateLimitedUntil > now) return { kind: 'RATE_LIMITED', retryAfterMs: entry.rateLimitedUntil - now };
      entry.rateLimitedUntil = now + this.#rules.rateLimitMs;
    }
    const judgement = judgeFixes(entry.fix, fixes, now, this.#rules);
    if (judgement.spoofing) entry.spoofingSince ??= now;
    if (judgement.live >= 0) {
      const fix = fixes[judgement.live];
      entry.fix = fix;
      entry.indexed = isIndexable(fix);
      entry.presenceUntil = now + this.#rules.presenceTtlMs;
      await this.#pubsub.publish(this.#keys.locationChannel(driver.id), locationMessage(driver.id, fix));
      await this.#mirror(driver.id);
    }
    return { kind: 'JUDGED', verdicts: judgement.verdicts, spoofing: judgement.spoofing };
  }

  async nearby(query: NearbyQuery, freshSince: number): Promise<NearbyCandidate[]> {
    const ranges = coveringRanges(query.near, query.radiusM);
    // Computed 64-bit integers, not input: safe to inline. Everything else is a bound parameter.
    const los = ranges.map((range) => range.lo.toString()).join(',');
    const his = ranges.map((range) => range.hi.toString()).join(',');
    const params: unknown[] = [query.near.lat, query.near.lat, query.near.lng, new Date(freshSince)];
    if (query.vehicleType) params.push(query.vehicleType);
    params.push(query.radiusM + MARGIN_M, query.first + EXTRA_ROWS);
    const rows: Array<{ driver_id: string; lat: number; lng: number; recorded_at: Date | string }> = await this.#db.orm.em.getConnection().execute(
      `select c."driver_id", c."lat", c."lng", c."recorded_at" from (
         select p."driver_id", p."lat", p."lng", p."recorded_at",
           2 * ${EARTH_RADIUS_M} * asin(least(1, sqrt(power(sin(radians(p."lat" - ?) / 2), 2) + cos(radians(?)) * cos(radians(p."lat")) * power(sin(radians(p."lng" - ?) / 2), 2)))) as "distance"
         from unnest(array[${los}]::bigint[], array[${his}]::bigint[]) as r("lo", "hi")
         -- One index range scan per range: "offset 0" keeps the planner from flattening this into a join
         -- it would answer with a sequential scan of the whole table.
         cross join lateral (
           select * from ${POSITIONS_TABLE} q where q."availability" = 'AVAILABLE' and q."h3_cell" between r."lo" and r."hi" offset 0
         ) p
         where p."recorded_at" >= ?${query.vehicleType ? ` and p."vehicle_type" = ?` : ''}
       ) c
       where c."distance" <= ?
       order by c."distance", c."driver_id"
       limit ?`,
      params,
    );
    return rows.map((row) => ({ driverId: row.driver_id, lat: Number(row.lat), lng: Number(row.lng), recordedAt: new Date(row.recorded_at).getTime() }));
  }

  async sweep(now: number, offlineFrom: readonly Availability[]): Promise<string[]> {
    const swept: string[] = [];
    const writes: Promise<void>[] = [];
    for (const [id, entry] of this.#entries) {
      if (entry.availability === 'OFFLINE' || entry.presenceUntil > now) continue;
      if (offlineFrom.includes(entry.availability)) {
        entry.availability = 'OFFLINE';
        swept.push(id);
      } else if (!entry.indexed) continue; // BUSY or COOLDOWN, already out of the index
      // BUSY and COOLDOWN drivers keep their state but leave the index until they report again.
      entry.indexed = false;
      writes.push(this.#mirror(id));
    }
    await Promise.all(writes);
    return swept;
  }

  /** Writes the driver's current row, after every earlier write. */
  #mirror(driverId: string): Promise<void> {
    const write = this.#writes.then(async () => {
      const entry = this.#entries.get(driverId);
      if (!entry) return;
      const fix = entry.fix;
      const indexed = entry.indexed && fix !== null;
      await this.#db.orm.em.getConnection().execute(
        `insert into ${POSITIONS_TABLE} ("driver_id", "vehicle_type", "availability", "lat", "lng", "h3_cell", "recorded_at", "updated_at")
         values (?, ?, ?, ?, ?, ?, ?, now())
         on conflict ("driver_id") do update set "vehicle_type" = excluded."vehicle_type", "availability" = excluded."availability",
           "lat" = excluded."lat", "lng" = excluded."lng", "h3_cell" = excluded."h3_cell", "recorded_at" = excluded."recorded_at", "updated_at" = excluded."updated_at"`,
        [driverId, entry.vehicleType, entry.availability, fix?.lat ?? null, fix?.lng ?? null, indexed ? cellOf(fix!).toString() : null, fix ? new Date(fix.recordedAt) : null],
        'run',
      );
    });
    this.#writes = write.catch((error) => this.#logger.error({ err: error, driverId }, 'could not mirror a live position'));
    return write;
  }
}
