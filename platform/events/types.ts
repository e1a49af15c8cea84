import type { EntityManager } from '@mikro-orm/core';
import type { SubgraphName } from '../config.ts';

/** The envelope of every domain event, on every stream. */
export interface DomainEvent<TData = Record<string, unknown>> {
  /** uuid, unique per event: what consumers deduplicate on. */
  readonly id: string;
  /** 'TripRequested', ... */
  readonly type: string;
  /** The producing subgraph (whose stream carries it). */
  readonly source: SubgraphName;
  /** ISO-8601 UTC. */
  readonly occurredAt: string;
  /** The aggregate's id (tripId, driverId, ...). */
  readonly key: string;
  readonly data: TData;
}

export interface NewEvent<TData> {
  type: string;
  key: string;
  data: TData;
}

export interface ConsumerOptions {
  /** The consumer group, unique within the consuming subgraph; processed events are recorded under it. */
  name: string;
  /** Whose stream to read. */
  source: SubgraphName;
  /** Types to handle; any other type is acknowledged without calling `handle`. */
  types: string[];
  /**
   * Runs inside a transaction together with the record that this consumer processed the event, so
   * it applies exactly once per consumer name even when the event is redelivered. Throwing rolls
   * both back and the event is retried later (after `retryAfterMs`), then parked after `maxAttempts`.
   */
  handle(event: DomainEvent<any>, em: EntityManager): Promise<void>;
  /**
   * Optional: applies several events at once (the new ones of one read, in stream order), in one
   * transaction with their processed records; it must leave what `handle` on each in turn would. When
   * it throws, the events are applied one by one with `handle`, so only a failing one is retried.
   */
  handleMany?(events: DomainEvent<any>[], em: EntityManager): Promise<void>;
  /**
   * For consumers in no hurry: after applying a read that did not fill a batch, wait this long before
   * reading again, so a burst arrives in fewer, larger reads (one transaction each) instead of many
   * small ones competing with the burst itself. The first event after a quiet spell is not delayed.
   */
  lingerMs?: number;
}

/** An event computed by SQL (EventBus.outboxInsertSelect). */
export interface OutboxSelect {
  type: string;
  from: string;
  key: string;
  data: string;
  params: unknown[];
}

/** An outbox row as SQL with `?` placeholders (EventBus.outboxInsert). */
export interface OutboxInsert<TData> {
  readonly event: DomainEvent<TData>;
  readonly sql: string;
  readonly params: unknown[];
  committed(): void;
}

export interface EventBus {
  /**
   * Transactional outbox: persists the event into this subgraph's `outbox` table through `em`, so it
   * commits or rolls back with the caller's unit of work (call inside `em.transactional`, or before
   * the `em.flush()` that commits the change it describes). The relay is woken right after that
   * transaction commits and publishes the event to this subgraph's stream.
   */
  record<TData>(em: EntityManager, event: NewEvent<TData>): DomainEvent<TData>;
  /**
   * The same outbox row as an `insert` statement, for a change written in one statement: put `sql`
   * (with its `params`) in a `with` clause of that statement, so the event commits or fails with it
   * and no transaction round trips are needed. Call `committed()` once the statement succeeded to wake
   * the relay (the poll publishes it anyway, later).
   */
  outboxInsert<TData>(event: NewEvent<TData>): OutboxInsert<TData>;
  /**
   * Like `outboxInsert`, for an event the statement itself computes from the rows of one of its `with`
   * clauses: one outbox row per row of `from`, with `key` and `data` (jsonb) as SQL expressions over it
   * (`params` fill the placeholders of `data`).
   */
  outboxInsertSelect(event: OutboxSelect): Omit<OutboxInsert<unknown>, 'event'>;
  /** Hot, lossy-by-design signals that need no outbox (e.g. supply snapshots): straight to the stream. */
  publish<TData>(event: NewEvent<TData>): Promise<DomainEvent<TData>>;
  /** A consumer group over `source`'s stream; started and stopped with the subgraph. */
  consume(options: ConsumerOptions): void;
  /** Publishes whatever is committed and unpublished now (tests; the relay also runs by itself). */
  flush(): Promise<void>;
}
