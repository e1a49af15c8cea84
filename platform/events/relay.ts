import type { SubgraphName } from '../config.ts';
import type { Database, EntityManager } from '../db.ts';
import type { Logger } from '../logger.ts';
import { runInBackground } from './background.ts';
import type { EventMetrics } from './metrics.ts';
import type { StreamTransport } from './transport.ts';
import type { DomainEvent } from './types.ts';

export interface RelayOptions {
  db: Database;
  /** The subgraph's Postgres schema, where its outbox lives. */
  schema: string;
  source: SubgraphName;
  stream: string;
  transport: StreamTransport;
  logger: Logger;
  metrics: EventMetrics;
  pollMs: number;
  batchSize?: number;
}

interface OutboxRow {
  id: string;
  type: string;
  key: string;
  data: unknown;
  occurred_at: Date | string;
}

const BUSY_RETRY_MS = 20;
/**
 * Commits that arrive while a run publishes make one more run, this long after it: in a burst, events
 * go out in batches (one transaction and XADD pipeline each) instead of a run per commit. An event
 * committed while the relay is idle is published at once.
 */
const BURST_LINGER_MS = 20;
const HOUSEKEEPING_MS = 60 * 60_000;
/** In-process logs start empty: events published this recently are offered again (consumers deduplicate). */
const REPLAY_WINDOW = '10 minutes';
/**
 * A Redis stream that was lost took with it whatever consumers had not read yet: the relay publishes
 * again everything it published this recently (consumers deduplicate; their groups start over at the
 * stream's beginning). An event left unread longer than this before the loss is not replayed.
 */
const REPLAY_AFTER_LOSS = '1 hour';

/**
 * Moves committed outbox rows onto the stream, in `seq` order, then marks them published. Woken
 * after every commit that recorded events in this process, and polling for the rest (other replicas'
 * commits it was not told about, failed attempts). Replicas take turns on a transaction-scoped
 * advisory lock and claim rows FOR UPDATE SKIP LOCKED, so a row is never published by two relays at
 * once and causally ordered events keep their order. A crash between XADD and the commit publishes a
 * row again later: delivery is at least once, and consumers deduplicate by event id.
 */
export class OutboxRelay {
  readonly #options: RelayOptions;
  readonly #batchSize: number;
  readonly #table: string;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #timers: NodeJS.Timeout[] = [];
  #retry: NodeJS.Timeout | undefined;

  constructor(options: RelayOptions) {
    this.#options = options;
    this.#batchSize = options.batchSize ?? 200;
    this.#table = `"${options.schema}"."outbox"`;
  }

  async start() {
    this.#stopped = false;
    const logCreatedAt = this.#options.transport.claimReplay(this.#options.stream);
    if (logCreatedAt) await runInBackground(() => this.#replayRecent(logCreatedAt));
    await runInBackground(() => this.#housekeeping()).catch((error) => this.#options.logger.warn({ err: error }, 'event housekeeping failed'));
    this.#timers.push(setInterval(() => this.nudge(), this.#options.pollMs).unref());
    this.#timers.push(setInterval(() => void runInBackground(() => this.#housekeeping()).catch((error) => this.#options.logger.warn({ err: error }, 'event housekeeping failed')), HOUSEKEEPING_MS).unref());
    this.nudge();
  }

  /** Publishes soon; several nudges while a run is under way make one more run. */
  nudge() {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const run = (async () => {
      try {
        for (;;) {
          this.#again = false;
          await runInBackground(() => this.#drain());
          if (!this.#again || this.#stopped) break;
          await new Promise((resolve) => setTimeout(resolve, BURST_LINGER_MS));
        }
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'outbox relay failed; retrying on the next poll');
      } finally {
        this.#running = undefined;
      }
    })();
    this.#running = run;
  }

  /** Resolves once everything committed before the call has been published (or a run failed). */
  async flush() {
    while (this.#running) await this.#running;
    if (this.#stopped) return;
    await runInBackground(() => this.#drain(true));
  }

  async stop() {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    clearTimeout(this.#retry);
    while (this.#running) await this.#running;
  }

  async #drain(waitForLock = false) {
    for (;;) {
      const published = await this.#publishBatch();
      if (published === 'busy') {
        if (waitForLock) {
          await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
          continue;
        }
        // Another replica is publishing; it may have read the outbox before our rows committed.
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => this.nudge(), BUSY_RETRY_MS).unref();
        return;
      }
      if (published < this.#batchSize) return;
    }
  }

  async #publishBatch(): Promise<number | 'busy'> {
    const { db, schema, transport, stream, metrics } = this.#options;
    return db.fork().transactional(async (em) => {
      const connection = em.getConnection();
      const trx = em.getTransactionContext();
      const [lock]: Array<{ locked: boolean }> = await connection.execute(`select pg_try_advisory_xact_lock(hashtext(?)) as "locked"`, [`smartline:outbox:${schema}`], 'all', trx);
      if (!lock.locked) return 'busy';
      // Under the lock, before anything new: a lost stream gets its recent past back first, in order.
      if (!(await transport.markIntact(stream))) await this.#replayLost(connection, trx);
      const rows: OutboxRow[] = await connection.execute(
        `select "id", "type", "key", "data", "occurred_at" from ${this.#table} where "published_at" is null order by "seq" limit ? for update skip locked`,
        [this.#batchSize],
        'all',
        trx,
      );
      if (rows.length === 0) return 0;
      const events = rows.map((row) => this.#toEvent(row));
      await this.#append(events);
      await connection.execute(`update ${this.#table} set "published_at" = now() where "id" in (${rows.map(() => '?').join(', ')})`, rows.map((row) => row.id), 'run', trx);
      for (const event of events) metrics.published.inc({ type: event.type });
      metrics.outboxLag.set(Math.max(0, (Date.now() - Date.parse(events[0].occurredAt)) / 1000));
      return rows.length;
    });
  }

  /** The stream was lost: what was published in the last REPLAY_AFTER_LOSS goes out again, oldest first. */
  async #replayLost(connection: ReturnType<EntityManager['getConnection']>, trx: ReturnType<EntityManager['getTransactionContext']>) {
    const { stream, logger } = this.#options;
    const rows: OutboxRow[] = await connection.execute(
      `select "id", "type", "key", "data", "occurred_at" from ${this.#table} where "published_at" > now() - interval '${REPLAY_AFTER_LOSS}' order by "seq"`,
      [],
      'all',
      trx,
    );
    for (let start = 0; start < rows.length; start += this.#batchSize) await this.#append(rows.slice(start, start + this.#batchSize).map((row) => this.#toEvent(row)));
    logger.warn({ stream, events: rows.length, window: REPLAY_AFTER_LOSS }, 'the event stream was lost (Redis restarted empty or was flushed): published events replayed');
  }

  /** Rows the previous run published shortly before this process's log existed (not those published into it since). */
  async #replayRecent(logCreatedAt: Date) {
    const { db, logger } = this.#options;
    const rows: OutboxRow[] = await db.orm.em.getConnection().execute(
      `select "id", "type", "key", "data", "occurred_at" from ${this.#table} where "published_at" > ?::timestamptz - interval '${REPLAY_WINDOW}' and "published_at" < ? order by "seq"`,
      [logCreatedAt, logCreatedAt],
    );
    if (rows.length === 0) return;
    await this.#append(rows.map((row) => this.#toEvent(row)));
    logger.info({ events: rows.length }, 'replayed recently published events into the in-process log');
  }

  /** Published outbox rows are kept a week (replays, debugging); processed-event records a month. */
  async #housekeeping() {
    const connection = this.#options.db.orm.em.getConnection();
    await connection.execute(`delete from ${this.#table} where "published_at" < now() - interval '7 days'`, [], 'run');
    await connection.execute(`delete from "${this.#options.schema}"."processed_events" where "processed_at" < now() - interval '30 days'`, [], 'run');
  }

  /** Events onto the stream, each as its type and JSON envelope. */
  #append(events: readonly DomainEvent[]): Promise<void> {
    return this.#options.transport.append(this.#options.stream, events.map((event) => ({ type: event.type, payload: JSON.stringify(event) })));
  }

  #toEvent(row: OutboxRow): DomainEvent {
    return {
      id: row.id,
      type: row.type,
      source: this.#options.source,
      occurredAt: new Date(row.occurred_at).toISOString(),
      key: row.key,
      data: (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as Record<string, unknown>,
    };
  }
}
