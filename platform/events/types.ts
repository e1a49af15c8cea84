import type { EntityManager } from '@mikro-orm/core';
import type { SubgraphName } from '../config.ts';
import type { AnyEventContract, EventData, EventOf } from './contract.ts';

/** The envelope of every domain event, on every stream. */
export interface DomainEvent<TData = Record<string, unknown>, TType extends string = string> {
  /** uuid, unique per event: what consumers deduplicate on. */
  readonly id: string;
  /** 'TripRequested', ...: the name of its contract. */
  readonly type: TType;
  /** The producing subgraph (whose stream carries it). */
  readonly source: SubgraphName;
  /** ISO-8601 UTC. */
  readonly occurredAt: string;
  /** The aggregate's id (tripId, driverId, ...). */
  readonly key: string;
  readonly data: TData;
}

/** An event to record or publish: `data` is checked against `contract` first (EventContractViolation, nothing written). */
export interface NewEvent<C extends AnyEventContract> {
  contract: C;
  /** The aggregate's id (trip id, driver id, ...). */
  key: string;
  data: EventData<C>;
}

export interface ConsumerOptions<C extends AnyEventContract = AnyEventContract> {
  /** The consumer group, unique within the consuming subgraph; processed events are recorded under it. */
  name: string;
  /** Whose stream to read. */
  source: SubgraphName;
  /**
   * The event types to handle, by contract; any other type is acknowledged without calling `handle`.
   * Each payload is parsed with its contract first: one that breaks it is parked in dead_events at
   * once (retrying cannot mend it) and never reaches `handle`.
   */
  contracts: readonly C[];
  /**
   * Runs inside a transaction together with the record that this consumer processed the event, so
   * it applies exactly once per consumer name even when the event is redelivered. Throwing rolls
   * both back and the event is retried later (after `retryAfterMs`), then parked after `maxAttempts`.
   * `event.data` is the payload as its contract parsed it.
   */
  handle(event: EventOf<C>, em: EntityManager): Promise<void>;
  /**
   * Optional: applies several events at once (the new ones of one read, in stream order), in one
   * transaction with their processed records; it must leave what `handle` on each in turn would. When
   * it throws, the events are applied one by one with `handle`, so only a failing one is retried.
   */
  handleMany?(events: Array<EventOf<C>>, em: EntityManager): Promise<void>;
  /**
   * For consumers in no hurry: after applying a read that did not fill a batch, wait this long before
   * reading again, so a burst arrives in fewer, larger reads (one transaction each) instead of many
   * small ones competing with the burst itself. The first event after a quiet spell is not delayed.
   * The read after a linger takes up to `catchUpBatchSize` entries (ConsumerTuning, default 200), so what
   * accumulated is applied in one transaction rather than a read of `batchSize` after another.
   */
  lingerMs?: number;
}

/** SQL with its `?` placeholders' values. */
export interface SqlWithParams {
  sql: string;
  params: readonly unknown[];
}

/** An event computed by SQL (EventBus.outboxInsertSelect). */
export interface OutboxSelect<C extends AnyEventContract> {
  contract: C;
  /** The `with` clause the events are computed from: one per row. */
  from: string;
  /** SQL over `from`: the event's key. */
  key: string;
  /**
   * Every field of the contract (the type lists them) as SQL over `from`: the payload is their
   * jsonb_build_object, in the contract's order. Its values are checked by consumers, and by a test
   * that parses what the statement wrote.
   */
  fields: { readonly [K in keyof EventData<C>]-?: string | SqlWithParams };
}

/** An outbox row as SQL with `?` placeholders (EventBus.outboxInsert). */
export interface OutboxInsert<TEvent> {
  readonly event: TEvent;
  readonly sql: string;
  readonly params: unknown[];
  committed(): void;
}

export interface EventBus {
  /**
   * Transactional outbox: persists the event into this subgraph's `outbox` table through `em`, so it
   * commits or rolls back with the caller's unit of work (call inside `em.transactional`, or before
   * the `em.flush()` that commits the change it describes). The relay is woken right after that
   * transaction commits and publishes the event to this subgraph's stream. A payload that breaks its
   * contract throws EventContractViolation here, before anything is persisted (as do `outboxInsert`
   * and `publish`).
   */
  record<C extends AnyEventContract>(em: EntityManager, event: NewEvent<C>): EventOf<C>;
  /**
   * The same outbox row as an `insert` statement, for a change written in one statement: put `sql`
   * (with its `params`) in a `with` clause of that statement, so the event commits or fails with it
   * and no transaction round trips are needed. Call `committed()` once the statement succeeded to wake
   * the relay (the poll publishes it anyway, later).
   */
  outboxInsert<C extends AnyEventContract>(event: NewEvent<C>): OutboxInsert<EventOf<C>>;
  /**
   * Like `outboxInsert`, for an event the statement itself computes from the rows of one of its `with`
   * clauses: one outbox row per row of `from`, with `key` and each field of the contract as SQL
   * expressions over it.
   */
  outboxInsertSelect<C extends AnyEventContract>(event: OutboxSelect<C>): Omit<OutboxInsert<never>, 'event'>;
  /** Hot, lossy-by-design signals that need no outbox (e.g. supply snapshots): straight to the stream. */
  publish<C extends AnyEventContract>(event: NewEvent<C>): Promise<EventOf<C>>;
  /** A consumer group over `source`'s stream; started and stopped with the subgraph. */
  consume<C extends AnyEventContract>(options: ConsumerOptions<C>): void;
  /** Publishes whatever is committed and unpublished now (tests; the relay also runs by itself). */
  flush(): Promise<void>;
}
