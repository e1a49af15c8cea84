import type { Database, EntityManager } from '../../../platform/db.ts';
import type { DriverRef, TransitionResult } from '../availability.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { Redis } from '../../../platform/redis.ts';
import { completionsSince, tripsUnderWay } from '../records.ts';
import { MATCHED_FROM } from '../trip-events.ts';
import type { LiveLocations } from './engine.ts';
import { ALL_BUCKETS } from './keys.ts';

/** Drivers moved per batch of directory lookups and Redis calls. */
const BATCH = 500;
/** How often the markers are checked besides reconnects (a flush or a failover without a reconnect). */
const CHECK_INTERVAL_MS = 5_000;

/**
 * Availability lives in Redis, which may lose it (a restart without persistence, a failover to an empty
 * replica, a flush): every driver then reads OFFLINE, and one still on a trip could go online and be
 * offered another. Postgres keeps what matters (`driver_trips`, from trips' events), so the live state is
 * rebuilt from it:
 *   - a driver on a trip (matched, not ended) is BUSY on that trip again;
 *   - a driver whose last trip completed less than `cooldownMs` ago is in COOLDOWN until it ends;
 *   - everyone else stays OFFLINE until their app reports (goOnline, then a fix), as before.
 * Drivers live in buckets (keys.ts) spread over a cluster's masters, and a master may be lost alone, so
 * each bucket has a marker: its absence says that bucket's data was lost, and only the drivers of the
 * buckets without one are rebuilt (the others' state is intact and newer than anything Postgres says).
 * The markers are checked (one EXISTS per bucket, pipelined: one round trip per node) when the Redis
 * connection becomes ready (a restart is a reconnect) and every few seconds (a flush or a failover is not),
 * by every replica: the moves are conditional (from OFFLINE, AVAILABLE or OFFERED only), so replicas
 * rebuilding at once, or a rebuild repeated, change nothing twice. A bucket's marker is set after its
 * drivers moved: a replica that dies half-way leaves the work to the next check. (The geo sets need no
 * marker: a driver's next fix puts them back.)
 * Trip events race the rebuild: the consumer may apply a trip's end on the state Redis lost, before the
 * rebuild put its driver back. So the rebuild holds the trips under way share-locked while it moves
 * their drivers (an end recorded meanwhile waits, then moves a BUSY driver on), and an event whose move
 * finds its driver OFFLINE in a bucket not yet rebuilt (`awaits`) fails and is retried after it.
 */
export class LiveStateRebuild {
  readonly #redis: Redis;
  readonly #db: Database;
  readonly #live: LiveLocations;
  readonly #cooldownMs: number;
  readonly #logger: Logger;
  readonly #checkIntervalMs: number;
  #running: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onReady = () => void this.check().catch((error) => this.#logger.warn({ err: error }, 'rebuilding drivers\' live state failed; the next check retries'));

  constructor(options: { redis: Redis; db: Database; live: LiveLocations; cooldownMs: number; logger: Logger; checkIntervalMs?: number }) {
    this.#checkIntervalMs = options.checkIntervalMs ?? CHECK_INTERVAL_MS;
    this.#redis = options.redis;
    this.#db = options.db;
    this.#live = options.live;
    this.#cooldownMs = options.cooldownMs;
    this.#logger = options.logger;
  }

  /** Checks now, whenever the Redis connection becomes ready again, and every `checkIntervalMs` (0: never on a timer). */
  async start(): Promise<void> {
    this.#redis.on('ready', this.#onReady);
    if (this.#checkIntervalMs > 0) {
      this.#timer = setInterval(this.#onReady, this.#checkIntervalMs);
      this.#timer.unref();
    }
    await this.check();
  }

  async stop() {
    this.#redis.off('ready', this.#onReady);
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /** Rebuilds the buckets whose marker is missing; true when there were any. One check at a time per process. */
  check(): Promise<boolean> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<boolean> {
    const keys = this.#live.keys;
    const marked = await Promise.all(ALL_BUCKETS.map((bucket) => this.#redis.exists(keys.rebuilt(bucket))));
    const lost = new Set(ALL_BUCKETS.filter((_, i) => marked[i] === 0));
    if (lost.size === 0) return false;
    const inLost = (item: { driverId: string }) => lost.has(keys.bucketOf(item.driverId));
    const now = this.#live.now();
    // One transaction, holding the trips under way share-locked while their drivers move: trips' events
    // move a driver on (BUSY → COOLDOWN or AVAILABLE) before their transaction commits, so without the
    // lock a trip ending between this read and the move below finds its driver not yet BUSY, and the
    // move then makes them BUSY on a trip that is over, for good (seen in the fault suite).
    const { busy, cooldowns } = await this.#db.fork().transactional(async (em) => {
      const underWay = await tripsUnderWay(em);
      // After the lock: a trip that ended while it was awaited counts as completed here.
      const completions = await completionsSince(em, new Date(now - this.#cooldownMs));
      const onTrip = new Set(underWay.map((trip) => trip.driverId));
      const cooling = completions.filter((completion) => !onTrip.has(completion.driverId) && inLost(completion));
      const moved = {
        busy: await this.#moveAll(em, underWay.filter(inLost), (driver, { tripId }) => this.#live.store.transition(driver, 'BUSY', MATCHED_FROM, now, { tripId })),
        cooldowns: await this.#moveAll(em, cooling, (driver, { endedAt }) =>
          this.#live.store.transition(driver, 'COOLDOWN', ['OFFLINE', 'AVAILABLE'], now, { cooldownUntil: endedAt.getTime() + this.#cooldownMs }),
        ),
      };
      // Marked before the lock goes: a trip event waiting on it then finds its driver's state rebuilt.
      const rebuiltAt = new Date(now).toISOString();
      await Promise.all([...lost].map((bucket) => this.#redis.set(keys.rebuilt(bucket), rebuiltAt)));
      return moved;
    });
    if (busy + cooldowns > 0) this.#logger.warn({ busy, cooldowns, buckets: lost.size }, 'drivers\' live state was missing from Redis: rebuilt from Postgres');
    return true;
  }

  /**
   * Whether the driver's live state was lost and is not rebuilt yet (their bucket has no marker): a trip
   * event's move found them OFFLINE because of it, and is retried once the rebuild made them BUSY again.
   */
  async awaits(driverId: string): Promise<boolean> {
    return (await this.#redis.exists(this.#live.keys.rebuilt(this.#live.keys.bucketOf(driverId)))) === 0;
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
