import type { Database, EntityManager } from '../../../platform/db.ts';
import type { DriverRef, TransitionResult } from '../availability.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { Redis } from '../../../platform/redis.ts';
import { completionsSince, tripsUnderWay } from '../records.ts';
import { MATCHED_FROM } from '../trip-events.ts';
import type { LiveLocations } from './engine.ts';

/** Drivers moved per batch of directory lookups and Redis calls. */
const BATCH = 500;
/** How often the marker is checked besides reconnects (a flush without a reconnect): one EXISTS per replica. */
const CHECK_INTERVAL_MS = 5_000;

/**
 * Availability lives in Redis, which may lose it (a restart without persistence, a failover to an empty
 * replica, a flush): every driver then reads OFFLINE, and one still on a trip could go online and be
 * offered another. Postgres keeps what matters (`driver_trips`, from trips' events), so the live state is
 * rebuilt from it:
 *   - a driver on a trip (matched, not ended) is BUSY on that trip again;
 *   - a driver whose last trip completed less than `cooldownMs` ago is in COOLDOWN until it ends;
 *   - everyone else stays OFFLINE until their app reports (goOnline, then a fix), as before.
 * A marker key says the live state was rebuilt; its absence says Redis lost its data. It is checked when
 * the Redis connection becomes ready (a restart is a reconnect) and on every sweep (a flush is not), by
 * every replica: the moves are conditional (from OFFLINE, AVAILABLE or OFFERED only), so replicas
 * rebuilding at once, or a rebuild repeated, change nothing twice. The marker is set after the moves: a
 * replica that dies half-way leaves the work to the next check.
 */
export class LiveStateRebuild {
  readonly #redis: Redis;
  readonly #db: Database;
  readonly #live: LiveLocations;
  readonly #cooldownMs: number;
  readonly #logger: Logger;
  #running: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onReady = () => void this.check().catch((error) => this.#logger.warn({ err: error }, 'rebuilding drivers\' live state failed; the next check retries'));

  constructor(options: { redis: Redis; db: Database; live: LiveLocations; cooldownMs: number; logger: Logger }) {
    this.#redis = options.redis;
    this.#db = options.db;
    this.#live = options.live;
    this.#cooldownMs = options.cooldownMs;
    this.#logger = options.logger;
  }

  /** Checks now, whenever the Redis connection becomes ready again, and every `CHECK_INTERVAL_MS`. */
  async start(): Promise<void> {
    this.#redis.on('ready', this.#onReady);
    this.#timer = setInterval(this.#onReady, CHECK_INTERVAL_MS);
    this.#timer.unref();
    await this.check();
  }

  async stop() {
    this.#redis.off('ready', this.#onReady);
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /** Rebuilds when the marker is missing; true when it did. One check at a time per process. */
  check(): Promise<boolean> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<boolean> {
    if ((await this.#redis.exists(this.#live.keys.rebuilt)) === 1) return false;
    const now = this.#live.now();
    const em = this.#db.fork();
    const [underWay, completions] = await Promise.all([tripsUnderWay(em), completionsSince(em, new Date(now - this.#cooldownMs))]);
    const onTrip = new Set(underWay.map((trip) => trip.driverId));
    const cooling = completions.filter((completion) => !onTrip.has(completion.driverId));
    const busy = await this.#moveAll(em, underWay, (driver, { tripId }) => this.#live.store.transition(driver, 'BUSY', MATCHED_FROM, now, { tripId }));
    const cooldowns = await this.#moveAll(em, cooling, (driver, { endedAt }) =>
      this.#live.store.transition(driver, 'COOLDOWN', ['OFFLINE', 'AVAILABLE'], now, { cooldownUntil: endedAt.getTime() + this.#cooldownMs }),
    );
    await this.#redis.set(this.#live.keys.rebuilt, new Date(now).toISOString());
    if (busy + cooldowns > 0) this.#logger.warn({ busy, cooldowns }, 'drivers\' live state was missing from Redis: rebuilt from Postgres');
    return true;
  }

  /** Moves each driver named in `items`, a batch of directory lookups and store calls at a time; how many moved. */
  async #moveAll<T extends { driverId: string }>(em: EntityManager, items: readonly T[], move: (driver: DriverRef, item: T) => Promise<TransitionResult>): Promise<number> {
    let moved = 0;
    for (let start = 0; start < items.length; start += BATCH) {
      const batch = items.slice(start, start + BATCH);
      const drivers = await this.#live.directory.byIds(batch.map((item) => item.driverId), em);
      const moves = await Promise.all(batch.map((item) => (drivers.has(item.driverId) ? move(drivers.get(item.driverId)!, item) : undefined)));
      moved += moves.filter((result) => result?.moved).length;
    }
    return moved;
  }
}
