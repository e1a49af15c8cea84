import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { Registry } from 'prom-client';
import type { SubgraphName } from '../config.ts';
import type { Database } from '../db.ts';
import type { Logger } from '../logger.ts';
import type { Redis } from '../redis.ts';
import { EventConsumer, type ConsumerTuning } from './consumer.ts';
import { acquireInProcessTransport } from './in-process-log.ts';
import { createEventMetrics } from './metrics.ts';
import { OutboxRelay } from './relay.ts';
import { streamKey, type OutboxEntityClass } from './storage.ts';
import { RedisStreamTransport, type StreamTransport } from './transport.ts';
import type { AnyEventContract, EventOf } from './contract.ts';
import type { ConsumerOptions, EventBus, NewEvent, OutboxInsert, OutboxSelect, SqlWithParams } from './types.ts';

export interface EventBusOptions {
  /** The producing (and consuming) subgraph; also its Postgres schema. */
  source: SubgraphName;
  db: Database;
  /** The outbox entity class registered with `db` (storage.ts createOutboxEntity). */
  outboxEntity: OutboxEntityClass;
  /** Redis Streams; absent: the process's in-process log for `namespace`. */
  redis: Redis | undefined;
  /** The deployment's namespace (platform/redis.ts redisNamespace). */
  namespace: string;
  logger: Logger;
  outboxPollMs: number;
  registry?: Registry;
  /** Consumer tuning (tests shorten the retry delay). */
  consumers?: ConsumerTuning;
  /** Postgres schema, when not the subgraph's name (tests). */
  schema?: string;
  /** Wraps the stream transport (tests inject faults, e.g. a lost acknowledgement). */
  wrapTransport?: (transport: StreamTransport) => StreamTransport;
}

/** The bus plus what its owner (the subgraph runner) drives: start with the subgraph, stop before its storage closes. */
export interface ManagedEventBus extends EventBus {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Domain events for one subgraph: the transactional outbox and its relay, the direct `publish` for
 * lossy signals, and consumer groups over any subgraph's stream. See types.ts for the contract.
 */
export function createEventBus(options: EventBusOptions): ManagedEventBus {
  const { source, db, outboxEntity, redis, namespace, logger } = options;
  const schema = options.schema ?? source;
  const metrics = createEventMetrics(options.registry);
  const baseTransport: StreamTransport = redis ? new RedisStreamTransport(redis) : acquireInProcessTransport(namespace);
  const transport = options.wrapTransport ? options.wrapTransport(baseTransport) : baseTransport;
  const ownStream = streamKey(namespace, source);
  const relay = new OutboxRelay({ db, schema, source, stream: ownStream, transport, logger: logger.child({ component: 'outbox-relay' }), metrics, pollMs: options.outboxPollMs });
  const consumers: EventConsumer[] = [];
  let state: 'created' | 'started' | 'stopped' = 'created';

  // Wake the relay right after a transaction that recorded events commits (not before: the row would
  // not be visible yet). A `transactional` nested in another commits a savepoint, not the transaction:
  // an event recorded there marks the open top-level transactions instead (the outer one is among them).
  const wakeRelay = () => setImmediate(() => relay.nudge());
  const insertIntoOutbox = `insert into "${schema}"."outbox" ("id", "type", "key", "data", "occurred_at")`;
  const recordedIn = new WeakSet<object>();
  const openTransactions = new Set<object>();
  db.orm.em.getEventManager().registerSubscriber({
    afterTransactionStart(args) {
      if (!args.transaction?.savepointName) openTransactions.add(args.em);
    },
    afterTransactionCommit(args) {
      if (args.transaction?.savepointName) return;
      openTransactions.delete(args.em);
      if (!recordedIn.has(args.em)) return;
      recordedIn.delete(args.em);
      wakeRelay();
    },
    afterTransactionRollback(args) {
      if (args.transaction?.savepointName) return;
      openTransactions.delete(args.em);
      recordedIn.delete(args.em);
    },
  });
  const markForNudge = (em: EntityManager) => {
    recordedIn.add(em);
    if (em.isInTransaction() && !openTransactions.has(em)) for (const outer of openTransactions) recordedIn.add(outer);
  };

  // The payload is checked before anything is written: one that breaks its contract is the producer's bug.
  const envelope = <C extends AnyEventContract>(event: NewEvent<C>): EventOf<C> =>
    ({
      id: randomUUID(),
      type: event.contract.type,
      source,
      occurredAt: new Date().toISOString(),
      key: event.key,
      data: event.contract.check(event.data),
    }) as EventOf<C>;

  const startConsumer = async (consumer: EventConsumer) => {
    await consumer.start();
    logger.debug({ consumer: consumer.name, member: consumer.id }, 'event consumer started');
  };

  return {
    record<C extends AnyEventContract>(em: EntityManager, event: NewEvent<C>): EventOf<C> {
      const domainEvent = envelope(event);
      const row = new outboxEntity();
      Object.assign(row, { id: domainEvent.id, type: domainEvent.type, key: domainEvent.key, data: domainEvent.data, occurredAt: new Date(domainEvent.occurredAt) });
      em.persist(row);
      markForNudge(em);
      return domainEvent;
    },

    outboxInsert<C extends AnyEventContract>(event: NewEvent<C>): OutboxInsert<EventOf<C>> {
      const domainEvent = envelope(event);
      return {
        event: domainEvent,
        sql: `${insertIntoOutbox} values (?, ?, ?, ?, ?)`,
        params: [domainEvent.id, domainEvent.type, domainEvent.key, JSON.stringify(domainEvent.data), new Date(domainEvent.occurredAt)],
        committed: wakeRelay,
      };
    },

    outboxInsertSelect<C extends AnyEventContract>({ contract, from, key, fields }: OutboxSelect<C>) {
      const data = jsonbObjectOf(contract, fields);
      return {
        sql: `${insertIntoOutbox} select gen_random_uuid(), ?, ${key}, ${data.sql}, now() from ${from}`,
        params: [contract.type, ...data.params],
        committed: wakeRelay,
      };
    },

    async publish<C extends AnyEventContract>(event: NewEvent<C>): Promise<EventOf<C>> {
      const domainEvent = envelope(event);
      await transport.append(ownStream, [{ type: domainEvent.type, payload: JSON.stringify(domainEvent) }]);
      metrics.published.inc({ type: domainEvent.type });
      return domainEvent;
    },

    consume<C extends AnyEventContract>(consumerOptions: ConsumerOptions<C>) {
      if (state === 'stopped') throw new Error('the event bus is stopped');
      if (consumers.some((consumer) => consumer.name === consumerOptions.name)) throw new Error(`event consumer ${consumerOptions.name} is already registered`);
      const consumer = new EventConsumer(
        consumerOptions,
        {
          db,
          schema,
          group: `${source}:${consumerOptions.name}`,
          stream: streamKey(namespace, consumerOptions.source),
          transport,
          logger: logger.child({ component: 'event-consumer', consumer: consumerOptions.name }),
          metrics,
        },
        options.consumers,
      );
      consumers.push(consumer);
      if (state === 'started') startConsumer(consumer).catch((error) => logger.error({ err: error, consumer: consumer.name }, 'event consumer failed to start'));
    },

    flush: () => relay.flush(),

    async start() {
      if (state !== 'created') return;
      state = 'started';
      await relay.start();
      await Promise.all(consumers.map(startConsumer));
    },

    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      await Promise.all([relay.stop(), ...consumers.map((consumer) => consumer.stop())]);
      await transport.close();
    },
  };
}

/**
 * A SQL-built payload: `jsonb_build_object` over exactly the contract's fields, in its order, so the
 * statement cannot leave one out or add one the contract does not name.
 */
function jsonbObjectOf(contract: AnyEventContract, fields: OutboxSelect<AnyEventContract>['fields']): { sql: string; params: unknown[] } {
  const given = fields as Record<string, string | SqlWithParams>;
  const strays = Object.keys(given).filter((field) => !contract.fields.includes(field));
  const missing = contract.fields.filter((field) => !Object.hasOwn(given, field));
  if (strays.length > 0 || missing.length > 0) throw new Error(`${contract.type} built in SQL: ${[...missing.map((field) => `${field} is missing`), ...strays.map((field) => `${field} is not a field of the contract`)].join('; ')}`);
  const params: unknown[] = [];
  const pairs = contract.fields.map((field) => {
    const value = given[field]!;
    if (typeof value !== 'string') params.push(...value.params);
    return `'${field}', ${typeof value === 'string' ? value : value.sql}`;
  });
  return { sql: `jsonb_build_object(${pairs.join(', ')})`, params };
}
