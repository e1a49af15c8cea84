import type { Database } from '../../../platform/db.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { Fix } from './fixes.ts';

export const HISTORY_TABLE = 'driver_location_history';
const SCHEMA = 'drivers';
const qualified = (table: string) => `"${SCHEMA}"."${table}"`;
const DAY_MS = 86_400_000;

export interface HistoryOptions {
  /** A batch is written as soon as this many points wait (default 500). */
  batchSize?: number;
  /** Waiting points are written at least this often (default 1000 ms). */
  flushIntervalMs?: number;
  /** Past this many waiting points (Postgres down), the oldest are dropped with an error log (default 200,000). */
  maxBufferedPoints?: number;
  /** Partitions of days older than this are dropped (default 90). */
  retentionDays?: number;
  /** How often partitions are created ahead and expired ones dropped (default hourly; creation is idempotent). */
  maintenanceIntervalMs?: number;
}

/**
 * Waiting points, column by column: numbers in typed arrays (NaN for a missing heading, speed or
 * accuracy), driver ids as references to strings that already exist. At 3,500 fixes/s a point waits
 * up to a batch's worth of time, long enough to survive a scavenge or two: as objects, every point was
 * copied and promoted, which made the drivers process's garbage collections longer and more frequent.
 */
class PointBuffer {
  driverIds: string[] = [];
  #columns: Float64Array[] = [];
  #length = 0;

  constructor(capacity = 1024) {
    this.#columns = Array.from({ length: COLUMNS }, () => new Float64Array(capacity));
  }

  get length(): number {
    return this.#length;
  }

  push(driverId: string, fix: Fix, receivedAt: number) {
    if (this.#length === this.#columns[0]!.length) this.#grow(this.#length * 2);
    const at = this.#length++;
    const [recordedAt, lat, lng, heading, speed, accuracy, received] = this.#columns as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    this.driverIds[at] = driverId;
    recordedAt[at] = fix.recordedAt;
    lat[at] = fix.lat;
    lng[at] = fix.lng;
    heading[at] = fix.heading ?? NaN;
    speed[at] = fix.speedKmh ?? NaN;
    accuracy[at] = fix.accuracyM ?? NaN;
    received[at] = receivedAt;
  }

  /** Removes and returns the oldest `count` points (as their own buffer). */
  take(count: number): PointBuffer {
    const n = Math.min(count, this.#length);
    const taken = new PointBuffer(Math.max(1, n));
    taken.driverIds = this.driverIds.slice(0, n);
    this.#columns.forEach((column, i) => taken.#columns[i]!.set(column.subarray(0, n)));
    taken.#length = n;
    this.drop(n);
    return taken;
  }

  /** Puts `points` back in front (a batch that could not be written). */
  restore(points: PointBuffer) {
    const n = points.#length;
    if (this.#length + n > this.#columns[0]!.length) this.#grow(this.#length + n);
    this.#columns.forEach((column, i) => {
      column.copyWithin(n, 0, this.#length);
      column.set(points.#columns[i]!.subarray(0, n));
    });
    this.driverIds = points.driverIds.slice(0, n).concat(this.driverIds.slice(0, this.#length));
    this.#length += n;
  }

  /** Forgets the oldest `count` points. */
  drop(count: number) {
    const n = Math.min(count, this.#length);
    for (const column of this.#columns) column.copyWithin(0, n, this.#length);
    this.driverIds = this.driverIds.slice(n, this.#length);
    this.#length -= n;
  }

  /** The points as plain objects, for a log line. */
  describe(): Array<{ driverId: string; recordedAt: number; lat: number; lng: number }> {
    const [recordedAt, lat, lng] = this.#columns as [Float64Array, Float64Array, Float64Array];
    return Array.from({ length: this.#length }, (_, i) => ({ driverId: this.driverIds[i]!, recordedAt: recordedAt[i]!, lat: lat[i]!, lng: lng[i]! }));
  }

  /** Distinct UTC days of the points' recordedAt. */
  days(): Set<number> {
    const days = new Set<number>();
    for (let i = 0; i < this.#length; i++) days.add(startOfDay(this.#columns[0]![i]!));
    return days;
  }

  /** The points as Postgres array literals, one per column of the insert (timestamps as ISO-8601 UTC). */
  asArrayLiterals(): string[] {
    const n = this.#length;
    const list = (format: (value: number) => string, column: Float64Array) => {
      const items = new Array<string>(n);
      for (let i = 0; i < n; i++) items[i] = Number.isNaN(column[i]!) ? 'NULL' : format(column[i]!);
      return `{${items.join(',')}}`;
    };
    const iso = (ms: number) => new Date(ms).toISOString();
    // real columns: a float8 beyond float4 (1e39, 1e-50) fails the whole statement in Postgres; rounded
    // to float4 first it is Infinity or 0, which it stores.
    const real = (value: number) => String(Math.fround(value));
    const [recordedAt, lat, lng, heading, speed, accuracy, received] = this.#columns as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    return [`{${this.driverIds.slice(0, n).join(',')}}`, list(iso, recordedAt), list(String, lat), list(String, lng), list(real, heading), list(real, speed), list(real, accuracy), list(iso, received)];
  }

  #grow(capacity: number) {
    this.#columns = this.#columns.map((column) => {
      const grown = new Float64Array(capacity);
      grown.set(column.subarray(0, this.#length));
      return grown;
    });
  }
}

/** recordedAt, lat, lng, heading, speed, accuracy, receivedAt. */
const COLUMNS = 7;

/** `driver_location_history_p20261122` holds [2026-11-22, 2026-11-23) UTC. */
export function partitionName(day: number): string {
  return `${HISTORY_TABLE}_p${new Date(day).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

const startOfDay = (time: number) => Math.floor(time / DAY_MS) * DAY_MS;

/**
 * The location history: accepted points are buffered in memory and inserted in batches (by size or
 * interval, never on the request path) into `driver_location_history`, partitioned by day of
 * recorded_at. Today's and tomorrow's partitions exist from start-up on, a partition for an older day is
 * created when a backfilled point needs it, and partitions past the retention are dropped (a DROP, not
 * a DELETE: no bloat, no vacuum). Re-sent points are ignored (primary key driver_id, recorded_at).
 * `stop` writes what is left (the subgraph's onStopped).
 */
export class LocationHistory {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #maxBuffered: number;
  readonly #retentionDays: number;
  readonly #maintenanceIntervalMs: number;
  #buffer = new PointBuffer();
  readonly #flagged = new Map<string, number>();
  readonly #partitions = new Set<string>();
  #flushing: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #dropped = 0;
  #rejected = 0;

  constructor(db: Database, logger: Logger, now: () => number, options: HistoryOptions = {}) {
    this.#db = db;
    this.#logger = logger;
    this.#now = now;
    this.#batchSize = options.batchSize ?? 500;
    this.#flushIntervalMs = options.flushIntervalMs ?? 1_000;
    this.#maxBuffered = options.maxBufferedPoints ?? 200_000;
    this.#retentionDays = options.retentionDays ?? 90;
    this.#maintenanceIntervalMs = options.maintenanceIntervalMs ?? 3_600_000;
  }

  async start() {
    await this.maintain(this.#now());
    this.#timers = [
      setInterval(() => void this.flush().catch(() => undefined), this.#flushIntervalMs),
      setInterval(() => void this.maintain(this.#now()).catch((error) => this.#logger.error({ err: error }, 'location history maintenance failed')), this.#maintenanceIntervalMs),
    ];
    for (const timer of this.#timers) timer.unref();
  }

  /** Points waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /** Points lost because the buffer overflowed while Postgres was unreachable. */
  get dropped(): number {
    return this.#dropped;
  }

  record(driverId: string, fixes: readonly Fix[], receivedAt: number) {
    for (const fix of fixes) this.#buffer.push(driverId, fix, receivedAt);
    this.#trim();
    if (this.#buffer.length >= this.#batchSize && !this.#flushing) void this.flush().catch(() => undefined);
  }

  /** Keeps the spoofing flag in Postgres too (the live store may be flushed or restarted). */
  flagSpoofing(driverId: string, at: number) {
    if (!this.#flagged.has(driverId)) this.#flagged.set(driverId, at);
  }

  /** Writes everything waiting now; one writer at a time. Rejects when a batch could not be written (it stays buffered). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing.catch(() => undefined);
    if (this.#buffer.length === 0 && this.#flagged.size === 0) return;
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #drain() {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.take(this.#batchSize);
      try {
        await this.#insertIsolating(batch);
      } catch (error) {
        this.#buffer.restore(batch);
        this.#trim();
        this.#logger.error({ err: error, pending: this.#buffer.length }, 'could not write location history; will retry');
        throw error;
      }
    }
    if (this.#flagged.size > 0) {
      const flagged = [...this.#flagged];
      this.#flagged.clear();
      for (const [driverId, at] of flagged) {
        await this.#db.orm.em.getConnection().execute(`update "${SCHEMA}"."drivers" set "suspected_spoofing_at" = coalesce("suspected_spoofing_at", ?) where "id" = ?`, [new Date(at), driverId], 'run');
      }
    }
  }

  /** Points refused by Postgres for their own values (never retried): one bad row never blocks the others. */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Writes a batch; when Postgres refuses it for its data (SQLSTATE class 22, a value out of range;
   * 23, a constraint; 42P17/ 23514, no partition for a date), halves it until the offending points are
   * alone, drops those with a warning and writes the rest. Any other failure (Postgres out of reach)
   * rejects with nothing dropped, for the whole batch to be retried. Halves already written are taken
   * out of `points` first, so a retry never writes them twice (nor would it matter: on conflict do nothing).
   */
  async #insertIsolating(points: PointBuffer): Promise<void> {
    try {
      await this.#insert(points);
      points.drop(points.length);
      return;
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (points.length === 1) {
        const [point] = points.describe();
        this.#rejected += 1;
        this.#logger.warn({ err: error, point, rejected: this.#rejected }, 'location history point refused by the database; dropped');
        points.drop(1);
        return;
      }
    }
    const half = Math.ceil(points.length / 2);
    const first = points.take(half);
    try {
      await this.#insertIsolating(first);
    } catch (error) {
      points.restore(first);
      throw error;
    }
    await this.#insertIsolating(points);
  }

  /** One statement per batch: eight array parameters unnested, not eight parameters per point. */
  async #insert(points: PointBuffer) {
    for (const day of points.days()) await this.ensurePartition(day);
    await this.#db.orm.em.getConnection().execute(
      `insert into ${qualified(HISTORY_TABLE)} ("driver_id", "recorded_at", "lat", "lng", "heading", "speed_kmh", "accuracy_m", "received_at")
       select * from unnest(?::uuid[], ?::timestamptz[], ?::float8[], ?::float8[], ?::real[], ?::real[], ?::real[], ?::timestamptz[])
       on conflict do nothing`,
      points.asArrayLiterals(),
      'run',
    );
  }

  #trim() {
    const excess = this.#buffer.length - this.#maxBuffered;
    if (excess <= 0) return;
    this.#buffer.drop(excess);
    this.#dropped += excess;
    this.#logger.error({ dropped: excess, total: this.#dropped }, 'location history buffer full: dropped the oldest points');
  }

  /** Creates the partition of the UTC day containing `day` unless it exists (safe against other replicas doing the same). */
  async ensurePartition(day: number) {
    const from = startOfDay(day);
    const name = partitionName(from);
    if (this.#partitions.has(name)) return;
    const connection = this.#db.orm.em.getConnection();
    try {
      await connection.execute(
        `create table if not exists ${qualified(name)} partition of ${qualified(HISTORY_TABLE)} for values from ('${new Date(from).toISOString()}') to ('${new Date(from + DAY_MS).toISOString()}')`,
        [],
        'run',
      );
    } catch (error) {
      // Two replicas creating the same partition at once: the loser fails, and the partition exists.
      const [row]: Array<{ exists: boolean }> = await connection.execute(`select to_regclass(?) is not null as "exists"`, [`${SCHEMA}.${name}`]);
      if (!row?.exists) throw error;
    }
    this.#partitions.add(name);
  }

  /** Today's and tomorrow's partitions exist; those of days older than the retention are dropped. */
  async maintain(now: number) {
    await this.ensurePartition(now);
    await this.ensurePartition(now + DAY_MS);
    const oldestKept = startOfDay(now) - this.#retentionDays * DAY_MS;
    for (const name of await this.partitions()) {
      const match = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (!match) continue;
      const day = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
      if (day >= oldestKept) continue;
      await this.#db.orm.em.getConnection().execute(`drop table if exists ${qualified(name)}`, [], 'run');
      this.#partitions.delete(name);
      this.#logger.info({ partition: name }, 'dropped an expired location history partition');
    }
  }

  /** Names of the history's partitions, oldest first. */
  async partitions(): Promise<string[]> {
    const rows: Array<{ name: string }> = await this.#db.orm.em.getConnection().execute(
      `select c.relname as "name" from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         join pg_class p on p.oid = i.inhparent
         join pg_namespace n on n.oid = p.relnamespace
       where n.nspname = ? and p.relname = ?
       order by c.relname`,
      [SCHEMA, HISTORY_TABLE],
    );
    return rows.map((row) => row.name);
  }

  /** Stops the timers and writes what is left. */
  async stop() {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    try {
      await this.flush();
    } catch (error) {
      this.#logger.error({ err: error, lost: this.#buffer.length }, 'location history not written at shutdown');
    }
  }
}

/**
 * Whether Postgres refused a statement for the values in it (SQLSTATE class 22 data exception, class 23
 * integrity constraint, or 42P17 for a partition bound it cannot make) rather than being out of reach.
 */
function isDataError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const { code, sqlState, cause } = current as { code?: unknown; sqlState?: unknown; cause?: unknown };
    for (const state of [sqlState, code]) if (typeof state === 'string' && /^(22|23)...$|^42P17$/.test(state)) return true;
    current = cause;
  }
  return false;
}
