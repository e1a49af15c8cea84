import type { Database } from '../../../platform/db.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PubSub } from '../../../platform/pubsub.ts';
import type { Availability, DriverRef, TransitionOptions, TransitionResult } from '../availability.ts';
import type { VehicleType } from '../entities.ts';
import { isIndexable, judgeFixes, locationMessage, type Fix, type LiveRules } from './fixes.ts';
import { cellOf, coveringRanges, EARTH_RADIUS_M, type LatLng } from './geo.ts';
import type { DriverKeys } from './keys.ts';
import { typesOf, UNKNOWN_DRIVER, type IngestOptions, type IngestOutcome, type LiveDriverState, type LiveStore, type NearbyCandidate, type NearbyQuery } from './store.ts';

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
  /** The trip the driver is OFFERED or BUSY for. */
  tripId: string | null;
  /** When the driver became AVAILABLE by going online or ending a trip (ms). */
  idleSince: number;
  /** When COOLDOWN ends (ms), while in COOLDOWN. */
  cooldownUntil: number | null;
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
  /** Each trip's offer set: the drivers it was offered to. */
  readonly #offers = new Map<string, Set<string>>();
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
        return [id, entry ? { availability: entry.availability, fix: entry.fix, spoofingSince: entry.spoofingSince, tripId: entry.tripId } : UNKNOWN_DRIVER];
      }),
    );
  }

  async availability(driverIds: readonly string[]): Promise<Map<string, Availability>> {
    return new Map(driverIds.map((id) => [id, this.#entries.get(id)?.availability ?? 'OFFLINE']));
  }

  async transition(driver: DriverRef, to: Availability, from: readonly Availability[], now: number, options: TransitionOptions = {}): Promise<TransitionResult> {
    const entry = this.#entries.get(driver.id);
    const previous = entry?.availability ?? 'OFFLINE';
    if (!from.includes(previous)) return { moved: false, previous };
    if (options.requireTrip && (entry?.tripId ?? '') !== (options.tripId ?? '')) return { moved: false, previous };
    const next: Entry = entry ?? {
      availability: 'OFFLINE', userId: driver.userId, vehicleType: driver.vehicleType, fix: null, indexed: false, spoofingSince: null,
      presenceUntil: 0, rateLimitedUntil: 0, tripId: null, idleSince: now, cooldownUntil: null,
    };
    next.availability = to;
    next.tripId = (to === 'OFFERED' || to === 'BUSY') && options.tripId ? options.tripId : null;
    next.cooldownUntil = to === 'COOLDOWN' ? (options.cooldownUntil ?? now) : null;
    if (to === 'AVAILABLE' && previous !== 'OFFERED') next.idleSince = now;
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
    const types = typesOf(query);
    const allTypes = query.vehicleTypes === undefined && query.vehicleType === null;
    if (!allTypes) params.push(types);
    // With several types, `first` is per type (as in the Redis store): enough rows for each.
    params.push(query.radiusM + MARGIN_M, query.first * (allTypes ? 1 : types.length) + EXTRA_ROWS);
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
         where p."recorded_at" >= ?${allTypes ? '' : ` and p."vehicle_type" in (?)`}
       ) c
       where c."distance" <= ?
       order by c."distance", c."driver_id"
       limit ?`,
      params,
    );
    return rows.map((row) => {
      const recordedAt = new Date(row.recorded_at).getTime();
      return { driverId: row.driver_id, lat: Number(row.lat), lng: Number(row.lng), recordedAt, idleSince: this.#entries.get(row.driver_id)?.idleSince ?? recordedAt };
    });
  }

  async sweep(now: number, offlineFrom: readonly Availability[]): Promise<string[]> {
    const swept: string[] = [];
    const writes: Promise<void>[] = [];
    for (const [id, entry] of this.#entries) {
      if (entry.availability === 'OFFLINE' || entry.presenceUntil > now) continue;
      if (offlineFrom.includes(entry.availability)) {
        entry.availability = 'OFFLINE';
        entry.tripId = null;
        swept.push(id);
      } else if (!entry.indexed) continue; // BUSY or COOLDOWN, already out of the index
      // BUSY and COOLDOWN drivers keep their state but leave the index until they report again.
      entry.indexed = false;
      writes.push(this.#mirror(id));
    }
    await Promise.all(writes);
    return swept;
  }

  async reserve(tripId: string, driverIds: readonly string[], _now: number, atMost = driverIds.length): Promise<string[]> {
    const reserved: string[] = [];
    for (const id of driverIds) {
      if (reserved.length >= atMost) break;
      const entry = this.#entries.get(id);
      if (entry?.availability !== 'AVAILABLE') continue;
      entry.availability = 'OFFERED';
      entry.tripId = tripId;
      reserved.push(id);
    }
    if (reserved.length > 0) {
      const offered = this.#offers.get(tripId) ?? new Set<string>();
      for (const id of reserved) offered.add(id);
      this.#offers.set(tripId, offered);
    }
    await Promise.all(reserved.map((id) => this.#mirror(id)));
    return reserved;
  }

  async release(tripId: string, driverIds: readonly string[], _now: number): Promise<string[]> {
    const offered = this.#offers.get(tripId);
    const released = this.#releaseOffered(tripId, driverIds);
    for (const id of driverIds) offered?.delete(id);
    await Promise.all(released.map((id) => this.#mirror(id)));
    return released;
  }

  async releaseTrip(tripId: string, except: string | null, _now: number): Promise<string[]> {
    const offered = [...(this.#offers.get(tripId) ?? [])].filter((id) => id !== except);
    this.#offers.delete(tripId);
    const released = this.#releaseOffered(tripId, offered);
    await Promise.all(released.map((id) => this.#mirror(id)));
    return released;
  }

  /** Synchronous, so atomic: drivers still OFFERED for the trip become AVAILABLE (idle time kept). */
  #releaseOffered(tripId: string, driverIds: readonly string[]): string[] {
    const released: string[] = [];
    for (const id of driverIds) {
      const entry = this.#entries.get(id);
      if (entry?.availability !== 'OFFERED' || entry.tripId !== tripId) continue;
      entry.availability = 'AVAILABLE';
      entry.tripId = null;
      released.push(id);
    }
    return released;
  }

  async endCooldowns(now: number): Promise<string[]> {
    const ended: string[] = [];
    for (const [id, entry] of this.#entries) {
      if (entry.availability !== 'COOLDOWN' || (entry.cooldownUntil ?? 0) > now) continue;
      entry.availability = 'AVAILABLE';
      entry.cooldownUntil = null;
      entry.idleSince = now;
      ended.push(id);
    }
    await Promise.all(ended.map((id) => this.#mirror(id)));
    return ended;
  }

  async availablePositions(freshSince: number): Promise<LatLng[]> {
    const positions: LatLng[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.availability === 'AVAILABLE' && entry.fix && entry.fix.recordedAt >= freshSince) positions.push({ lat: entry.fix.lat, lng: entry.fix.lng });
    }
    return positions;
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
