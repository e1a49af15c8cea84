import { hostname } from 'node:os';
import { setTimeout } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { Database } from '../db.ts';
import type { Logger } from '../logger.ts';
import { isUuid } from '../validation.ts';
import { runInBackground } from './background.ts';
import type { EventMetrics } from './metrics.ts';
import type { AnyEventContract } from './contract.ts';
import type { StreamEntry, StreamReader, StreamTransport } from './transport.ts';
import type { ConsumerOptions, DomainEvent } from './types.ts';
import { LRUCache } from 'lru-cache';

export interface ConsumerTuning {
  /** How long a delivered, unacknowledged event waits before it is delivered again (a failed handler, a crashed consumer). Default 5 s. */
  retryAfterMs?: number;
  /** Deliveries before an event is parked in dead_events and acknowledged. Default 5. */
  maxAttempts?: number;
  /** Entries read at once (kept small: entries wait in this member's pending list while it works through them). Default 20. */
  batchSize?: number;
  /** Longest blocking read (also bounds how often idle entries are reclaimed). Default 2 s. */
  blockMs?: number;
  /**
   * The read right after a linger takes up to this many entries: what arrived meanwhile is applied in one
   * transaction (handleMany) instead of one per `batchSize`. Default 200.
   */
  catchUpBatchSize?: number;
}

export interface ConsumerDeps {
  db: Database;
  /** The consuming subgraph's Postgres schema (processed_events, dead_events). */
  schema: string;
  /** The Redis consumer group: unique per consuming subgraph and consumer name. */
  group: string;
  stream: string;
  transport: StreamTransport;
  logger: Logger;
  metrics: EventMetrics;
}

/**
 * One member of a consumer group. Reads new entries (blocking, on its own connection), applies each
 * in a transaction that first inserts (consumer, event id) into processed_events — the handler runs
 * only when that insert is new, so a redelivered event is acknowledged without being applied twice —
 * and acknowledges after the commit. A throw leaves the entry pending; once idle for retryAfterMs it
 * is claimed again (by this or any other member), and after maxAttempts it is parked in dead_events.
 */
export class EventConsumer {
  readonly name: string;
  /** This member's name within the group (one per process and consume call). */
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #options: ConsumerOptions;
  readonly #deps: ConsumerDeps;
  /** The contracts of the types this consumer handles, by type. */
  readonly #contracts: Map<string, AnyEventContract>;
  readonly #retryAfterMs: number;
  readonly #maxAttempts: number;
  readonly #batchSize: number;
  readonly #blockMs: number;
  readonly #catchUpBatchSize: number;
  readonly #lastErrors = new LRUCache<string, string>({ max: 1_000 });
  #reader: StreamReader | undefined;
  #loop: Promise<void> | undefined;
  #stopping = false;
  readonly #stopped = new AbortController();
  #lastReclaim = 0;

  constructor(options: ConsumerOptions, deps: ConsumerDeps, tuning: ConsumerTuning = {}) {
    this.name = options.name;
    this.#options = options;
    this.#deps = deps;
    if (options.contracts.length === 0) throw new Error(`event consumer ${options.name} names no contract`);
    this.#contracts = new Map(options.contracts.map((contract) => [contract.type, contract]));
    this.#retryAfterMs = tuning.retryAfterMs ?? 5_000;
    this.#maxAttempts = tuning.maxAttempts ?? 5;
    this.#batchSize = tuning.batchSize ?? 20;
    this.#blockMs = Math.max(10, Math.min(tuning.blockMs ?? 2_000, Math.ceil(this.#retryAfterMs / 2)));
    this.#catchUpBatchSize = Math.max(this.#batchSize, tuning.catchUpBatchSize ?? 200);
  }

  /** Resolves once the group exists: events published from now on (and before) will reach it. */
  async start() {
    await this.#deps.transport.ensureGroup(this.#deps.stream, this.#deps.group);
    if (this.#stopping) return; // stopped while the group was being created
    this.#reader = this.#deps.transport.openReader();
    this.#loop = this.#run();
  }

  /** Lets the event in hand finish (its transaction and acknowledgement), then releases the connection. */
  async stop() {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#stopped.abort();
    await this.#reader?.close();
    await this.#loop;
    await this.#deps.transport.removeIdleConsumer(this.#deps.stream, this.#deps.group, this.id).catch(() => undefined);
  }

  async #run() {
    const { transport, stream, group, logger } = this.#deps;
    let failures = 0;
    let regrouped = false;
    let readSize = this.#batchSize;
    while (!this.#stopping) {
      try {
        if (Date.now() - this.#lastReclaim >= this.#blockMs) await this.#reclaim();
        const entries = await this.#reader!.read(stream, group, this.id, readSize, this.#blockMs);
        await this.#processRead(entries);
        failures = 0;
        regrouped = false;
        // A consumer in no hurry lets a burst accumulate after a read that did not fill its batch, then
        // takes all of it in one read (one transaction) instead of one per `batchSize`: a burst of 100
        // bookings costs pricing two reads, where reads of 20 after the first linger put four
        // transactions inside the burst itself.
        const lingerMs = this.#options.lingerMs ?? 0;
        readSize = this.#batchSize;
        if (lingerMs > 0 && entries.length > 0 && entries.length < this.#batchSize) {
          await setTimeout(lingerMs, undefined, { signal: this.#stopped.signal }).catch(() => undefined);
          readSize = this.#catchUpBatchSize;
        }
      } catch (error) {
        if (this.#stopping) break;
        failures += 1;
        logger.warn({ err: error, consumer: this.name }, 'event consumer read failed; retrying');
        // The stream (and its groups) can vanish under us, e.g. a flushed or restarted Redis: start over
        // from its beginning. Once the group is made again, read at once: Redis is back, and waiting out a
        // backoff grown during the outage (up to 5 s) would hold every event published since for nothing.
        // Only once in a row, so a group that keeps vanishing is still retried at the backoff's pace.
        if (String((error as Error)?.message).includes('NOGROUP') && !regrouped) {
          regrouped = await transport.ensureGroup(stream, group).then(() => true, () => false);
          if (regrouped) continue;
        }
        regrouped = false;
        await setTimeout(Math.min(100 * 2 ** failures, 5_000), undefined, { signal: this.#stopped.signal }).catch(() => undefined);
      }
    }
  }

  /**
   * A fresh read: the events this consumer handles are applied together, in one transaction (one
   * processed_events insert for all, each handler in turn, one commit) and acknowledged together — a
   * burst of bookings costs pricing one transaction per read, not one per event. Should any handler
   * throw, that transaction rolls back and each event is applied on its own, as a single one would be
   * (so the failing one is retried, and eventually parked, alone).
   */
  async #processRead(entries: StreamEntry[]) {
    const batch: Array<{ entry: StreamEntry; event: DomainEvent<any> }> = [];
    const unhandled: string[] = [];
    for (const entry of entries) {
      if (this.#stopping) return; // the rest stays pending and is claimed by another member later
      if (!this.#contracts.has(entry.type)) {
        unhandled.push(entry.id);
        continue;
      }
      const decoded = this.#decode(entry);
      if ('problem' in decoded) await this.#park(entry, decoded.event, 1, decoded.problem);
      else batch.push({ entry, event: decoded.event });
    }
    // Events of types this consumer does not handle: acknowledged together (a burst of one type
    // another consumer wants should not cost this one a round trip each).
    if (unhandled.length > 0) await this.#deps.transport.ack(this.#deps.stream, this.#deps.group, unhandled);
    if (batch.length < 2) {
      for (const { entry } of batch) await this.#process(entry, 1);
      return;
    }
    let applied: DomainEvent<any>[];
    const attempt: { current?: DomainEvent<any> } = {};
    try {
      applied = await runInBackground(() => this.#applyAll(batch.map(({ event }) => event), attempt));
    } catch (error) {
      // The handler that threw had its attempt (it stays pending and is retried like any failure); the
      // others rolled back with it and are applied one by one now.
      const failed = attempt.current;
      if (failed) this.#failed(failed, error, 1);
      for (const { entry, event } of batch) {
        if (this.#stopping) return;
        if (event !== failed) await this.#process(entry, 1);
      }
      return;
    }
    for (const event of applied) this.#deps.metrics.consumed.inc({ consumer: this.name, type: event.type });
    try {
      await this.#deps.transport.ack(this.#deps.stream, this.#deps.group, batch.map(({ entry }) => entry.id));
    } catch (error) {
      this.#deps.logger.warn({ err: error, consumer: this.name, events: batch.length }, 'acknowledging applied events failed; they will be redelivered and skipped');
    }
  }

  /**
   * Applies, in one transaction, each event not applied before (and each once); returns those it
   * applied. `attempt.current` names the event whose handler is running (the culprit, should one throw).
   */
  async #applyAll(events: DomainEvent<any>[], attempt: { current?: DomainEvent<any> }): Promise<DomainEvent<any>[]> {
    const { db, schema } = this.#deps;
    return db.fork().transactional(async (em) => {
      // Event ids are uuids; Postgres answers them lowercased, so they are compared lowercased.
      const ids = [...new Set(events.map((event) => event.id.toLowerCase()))];
      const inserted: Array<{ event_id: string }> = await em.getConnection().execute(
        `insert into "${schema}"."processed_events" ("consumer", "event_id") select ?, unnest(?::uuid[]) on conflict do nothing returning "event_id"`,
        [this.name, `{${ids.map((id) => JSON.stringify(id)).join(',')}}`],
        'all',
        em.getTransactionContext(),
      );
      const fresh = new Set(inserted.map((row) => row.event_id));
      // Applied before, or earlier in this batch: skipped.
      const unapplied = events.filter((event) => fresh.delete(event.id.toLowerCase()));
      if (this.#options.handleMany) {
        if (unapplied.length > 0) await this.#options.handleMany(unapplied, em);
        return unapplied; // a failure names no one event: each is then applied alone
      }
      const applied: DomainEvent<any>[] = [];
      for (const event of unapplied) {
        attempt.current = event;
        await this.#options.handle(event, em);
        // As if each event had its own transaction: its changes written, and nothing it loaded seen by the next.
        await em.flush();
        em.clear();
        applied.push(event);
      }
      attempt.current = undefined; // a failure from here on (the commit) is nobody's in particular
      return applied;
    });
  }

  /** Entries left pending by a failed attempt or a member that went away: retried, or parked when out of attempts. */
  async #reclaim() {
    this.#lastReclaim = Date.now();
    const { transport, stream, group } = this.#deps;
    const idle = await transport.pending(stream, group, this.#retryAfterMs, this.#batchSize);
    if (idle.length === 0) return;
    const deliveries = new Map(idle.map((entry) => [entry.id, entry.deliveries]));
    const claimed = await transport.claim(stream, group, this.id, this.#retryAfterMs, idle.map((entry) => entry.id));
    for (const entry of claimed) {
      if (this.#stopping) return;
      await this.#process(entry, (deliveries.get(entry.id) ?? 0) + 1);
    }
  }

  async #process(entry: StreamEntry, attempt: number) {
    const { transport, stream, group } = this.#deps;
    if (!this.#contracts.has(entry.type)) {
      await transport.ack(stream, group, [entry.id]);
      return;
    }
    const decoded = this.#decode(entry);
    if ('problem' in decoded) {
      await this.#park(entry, decoded.event, attempt, decoded.problem);
      return;
    }
    const { event } = decoded;
    if (attempt > this.#maxAttempts) {
      await this.#park(entry, event, attempt - 1, this.#lastErrors.get(event.id) ?? 'failed on another consumer');
      return;
    }
    let applied: boolean;
    try {
      applied = await runInBackground(() => this.#apply(event));
    } catch (error) {
      this.#failed(event, error, attempt);
      return;
    }
    if (applied) this.#deps.metrics.consumed.inc({ consumer: this.name, type: event.type });
    this.#lastErrors.delete(event.id);
    try {
      await transport.ack(stream, group, [entry.id]);
    } catch (error) {
      // Applied and committed: the redelivery will find it in processed_events and only acknowledge it.
      this.#deps.logger.warn({ err: error, consumer: this.name, eventId: event.id }, 'acknowledging an applied event failed; it will be redelivered and skipped');
    }
  }

  /** A handler threw: the event stays pending, to be claimed again after retryAfterMs. */
  #failed(event: DomainEvent<any>, error: unknown, attempt: number) {
    this.#deps.metrics.failed.inc({ consumer: this.name, type: event.type });
    this.#rememberError(event.id, error);
    this.#deps.logger.warn({ err: error, consumer: this.name, eventId: event.id, type: event.type, attempt }, 'event handler failed; it will be retried');
  }

  /** True when this call applied the event; false when it had been applied before. */
  async #apply(event: DomainEvent<any>): Promise<boolean> {
    const { db, schema } = this.#deps;
    return db.fork().transactional(async (em) => {
      const inserted: unknown[] = await em.getConnection().execute(
        `insert into "${schema}"."processed_events" ("consumer", "event_id") values (?, ?) on conflict do nothing returning 1 as "inserted"`,
        [this.name, event.id],
        'all',
        em.getTransactionContext(),
      );
      if (inserted.length === 0) return false;
      await this.#options.handle(event, em);
      return true;
    });
  }

  async #park(entry: StreamEntry, event: DomainEvent<any> | undefined, attempts: number, lastError: string) {
    const { db, schema, transport, stream, group, logger, metrics } = this.#deps;
    const eventId = event?.id ?? entry.id;
    await runInBackground(() =>
      db.fork().transactional(async (em) => {
        const connection = em.getConnection();
        const trx = em.getTransactionContext();
        await connection.execute(
          `insert into "${schema}"."dead_events" ("consumer", "event_id", "type", "event", "attempts", "last_error") values (?, ?, ?, ?, ?, ?) on conflict do nothing`,
          [this.name, eventId, entry.type || null, entry.payload, attempts, lastError],
          'run',
          trx,
        );
        // A parked event must never be applied later by a redelivery.
        if (event) await connection.execute(`insert into "${schema}"."processed_events" ("consumer", "event_id") values (?, ?) on conflict do nothing`, [this.name, event.id], 'run', trx);
      }),
    );
    await transport.ack(stream, group, [entry.id]);
    this.#lastErrors.delete(eventId);
    metrics.parked.inc({ consumer: this.name });
    logger.error({ consumer: this.name, eventId, type: entry.type, attempts, lastError }, 'event parked in dead_events');
  }

  /**
   * The entry as its handler will see it: the envelope read, the payload parsed with its type's contract
   * (typed, unknown fields dropped). Or why it cannot be applied — no retry would change that, so it is
   * parked at once; with the envelope when it was readable, so a redelivery is never applied either.
   */
  #decode(entry: StreamEntry): { event: DomainEvent<any> } | { event: DomainEvent<any> | undefined; problem: string } {
    let envelope: DomainEvent<unknown>;
    try {
      envelope = readEnvelope(entry.payload);
    } catch (error) {
      return { event: undefined, problem: `unreadable event: ${(error as Error).message}` };
    }
    if (envelope.type !== entry.type) return { event: envelope, problem: `unreadable event: its type ${JSON.stringify(envelope.type)} is not the stream entry's ${JSON.stringify(entry.type)}` };
    try {
      return { event: { ...envelope, data: this.#contracts.get(entry.type)!.parse(envelope.data) } };
    } catch (error) {
      return { event: envelope, problem: (error as Error).message };
    }
  }

  #rememberError(eventId: string, error: unknown) {
    this.#lastErrors.set(eventId, error instanceof Error ? error.message : String(error));
  }
}

function readEnvelope(payload: string): DomainEvent<unknown> {
  const event = JSON.parse(payload) as DomainEvent<unknown>;
  // processed_events keys on it (a uuid column): anything else could never be recorded, nor parked.
  if (!isUuid(event?.id)) throw new Error('the event has no uuid id');
  return event;
}
