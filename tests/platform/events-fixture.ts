import { randomUUID } from 'node:crypto';
import { Migration } from '@mikro-orm/migrations';
import { loadConfig, SUBGRAPH_NAMES, type SubgraphName } from '../../platform/config.ts';
import { openDatabase, type Database, type EntityManager } from '../../platform/db.ts';
import { uuid } from '../../platform/events/contracts/fields.ts';
import { createEventBus, createOutboxEntity, defineEventContract, streamKey, streamMarkKey, withEventMigrations, type ConsumerOptions, type ConsumerTuning, type EventOf, type ManagedEventBus, type StreamTransport } from '../../platform/events/index.ts';
import { createLogger } from '../../platform/logger.ts';
import { closeRedis, createRedis, type Redis } from '../../platform/redis.ts';
import { z } from '../../platform/validation.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { seedFromTemplates } from '../support/pglite-templates.ts';
import { testEnvironment } from '../support/stack.ts';

/**
 * The event bus on its own, without GraphQL: "nodes" are subgraph replicas reduced to a database
 * schema, a bus and a side-effect table. `applied` has no unique key on purpose: an event applied
 * twice shows up as two rows.
 */
class CreateSideEffects extends Migration {
  override up() {
    this.addSql(`create table "applied" ("consumer" varchar(100) not null, "event_id" uuid not null, "key" varchar(200) not null, "applied_by" varchar(100) not null)`);
    this.addSql(`create table "things" ("id" uuid primary key, "label" varchar(100) not null)`);
  }
}
const SIDE_EFFECTS_MIGRATION = { name: '0001_side_effects', class: CreateSideEffects };

/** The event these tests record: a `things` row was written (tests that only need an event send none of its fields). */
export const ThingHappened = defineEventContract('ThingHappened', z.object({ thingId: uuid.optional(), index: z.number().int().min(0).optional() }));
export type ThingEvent = EventOf<typeof ThingHappened>;

export type BusMode = 'Postgres + Redis Streams' | 'Postgres + in-process log' | 'PGlite + in-process log';

export const BUS_MODES: BusMode[] = ['Postgres + Redis Streams', 'Postgres + in-process log', 'PGlite + in-process log'];

/** The modes this run can test: PGlite always, Postgres with DATABASE_URL, Redis with REDIS_URL too. */
/** Why a bus mode cannot run here (its reason, printed as the suite's skip), or false when it can. */
export function busModeUnavailable(mode: BusMode): string | false {
  if (mode === 'PGlite + in-process log') return false;
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is not set';
  return mode === 'Postgres + Redis Streams' && !process.env.REDIS_URL ? 'REDIS_URL is not set' : false;
}

export interface BusNode {
  readonly name: string;
  readonly source: SubgraphName;
  readonly db: Database;
  readonly bus: ManagedEventBus;
  stop(): Promise<void>;
}

export interface NodeOptions {
  /** Shown in `applied.applied_by`: which replica applied an event. */
  name?: string;
  consumers?: ConsumerTuning;
  outboxPollMs?: number;
  wrapTransport?: (transport: StreamTransport) => StreamTransport;
}

/** A fresh database and namespace for one test; nodes opened through it are stopped by `dispose`. */
export class BusWorld {
  readonly mode: BusMode;
  readonly namespace = `events-test-${randomUUID()}`;
  readonly #database: TestDatabase;
  readonly #redis: Redis | undefined;
  readonly #nodes: BusNode[] = [];
  readonly #logger;

  private constructor(mode: BusMode, database: TestDatabase, redis: Redis | undefined) {
    this.mode = mode;
    this.#database = database;
    this.#redis = redis;
    this.#logger = createLogger(loadConfig('trips', testEnvironment(database)));
  }

  /** `redisUrl`: a Redis of the test's own (tests/support/redis-server.ts) instead of REDIS_URL. */
  static async create(mode: BusMode, options: { redisUrl?: string } = {}): Promise<BusWorld> {
    const database = await createTestDatabase();
    const usesPostgres = mode !== 'PGlite + in-process log';
    if (usesPostgres && !database.databaseUrl) throw new Error(`${mode} needs DATABASE_URL`);
    const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
    if (mode === 'Postgres + Redis Streams' && !redisUrl) throw new Error(`${mode} needs REDIS_URL`);
    const redis = mode === 'Postgres + Redis Streams' ? createRedis(redisUrl, createLogger(loadConfig('trips', testEnvironment(database))), 'events-test') : undefined;
    return new BusWorld(mode, usesPostgres ? database : { ...database, databaseUrl: undefined }, redis);
  }

  get redis(): Redis | undefined {
    return this.#redis;
  }

  /** A subgraph replica: its schema (migrations applied), an event bus over this world's transport. Not started. */
  async node(source: SubgraphName, options: NodeOptions = {}): Promise<BusNode> {
    const outboxEntity = createOutboxEntity();
    const logger = this.#logger.child({ node: options.name ?? source });
    if (!this.#database.databaseUrl) await seedFromTemplates(this.#database.dataDir, [{ name: source, entities: [], migrations: [SIDE_EFFECTS_MIGRATION] }]);
    const db = await openDatabase({
      schema: source,
      entities: [outboxEntity],
      migrations: withEventMigrations([SIDE_EFFECTS_MIGRATION]),
      databaseUrl: this.#database.databaseUrl,
      dataDir: this.#database.dataDir,
      poolMax: 4,
      logger,
    });
    // Replicas share one Redis server but each has its own client, as separate processes would.
    const redis = this.#redis ? this.#redis.duplicate() : undefined;
    const bus = createEventBus({
      source,
      db,
      outboxEntity,
      redis,
      namespace: this.namespace,
      logger,
      outboxPollMs: options.outboxPollMs ?? 50,
      consumers: { retryAfterMs: 150, maxAttempts: 3, ...options.consumers },
      wrapTransport: options.wrapTransport,
    });
    let stopped = false;
    const node: BusNode = {
      name: options.name ?? source,
      source,
      db,
      bus,
      async stop() {
        if (stopped) return;
        stopped = true;
        await bus.stop();
        await closeRedis(redis);
        await db.close();
      },
    };
    this.#nodes.push(node);
    return node;
  }

  /** Entries on `source`'s stream (Redis only: XLEN). */
  async streamLength(source: SubgraphName): Promise<number> {
    if (!this.#redis) throw new Error('only Redis streams can be measured directly');
    return this.#redis.xlen(streamKey(this.namespace, source));
  }

  async dispose() {
    await Promise.all(this.#nodes.map((node) => node.stop()));
    if (this.#redis) {
      await this.#redis.unlink(...SUBGRAPH_NAMES.flatMap((source) => [streamKey(this.namespace, source), streamMarkKey(streamKey(this.namespace, source))]));
      await closeRedis(this.#redis);
    }
    await this.#database.dispose();
  }
}

/** A consumer whose handler writes one `applied` row per call, in the handler's transaction. */
export function recordingConsumer(
  node: BusNode,
  options: Partial<ConsumerOptions<typeof ThingHappened>> & { name: string; source: SubgraphName },
  extra?: (event: ThingEvent, em: EntityManager) => Promise<void>,
): ConsumerOptions<typeof ThingHappened> {
  return {
    contracts: [ThingHappened],
    async handle(event, em) {
      await extra?.(event, em);
      await em.getConnection().execute(
        `insert into "${node.source}"."applied" ("consumer", "event_id", "key", "applied_by") values (?, ?, ?, ?)`,
        [options.name, event.id, event.key, node.name],
        'run',
        em.getTransactionContext(),
      );
    },
    ...options,
  };
}

export interface AppliedRow {
  consumer: string;
  event_id: string;
  key: string;
  applied_by: string;
}

export async function appliedRows(node: BusNode, consumer?: string): Promise<AppliedRow[]> {
  const rows: AppliedRow[] = await node.db.orm.em
    .getConnection()
    .execute(`select "consumer", "event_id", "key", "applied_by" from "${node.source}"."applied"${consumer ? ` where "consumer" = ?` : ''} order by "key"`, consumer ? [consumer] : []);
  return rows;
}

/** In how many transactions `consumer` recorded its processed events (but those of `except`). */
export async function processedTransactions(node: BusNode, consumer: string, except: readonly string[] = []): Promise<number> {
  const rows: Array<{ count: number }> = await node.db.orm.em
    .getConnection()
    .execute(`select count(distinct xmin::text)::int as "count" from "${node.source}"."processed_events" where "consumer" = ? and not ("event_id"::text = any(?))`, [consumer, `{${except.join(',')}}`]);
  return rows[0]!.count;
}

/** Records `count` ThingHappened events, each with a `things` row, in its own transaction (keys thing-0001 ...). */
export async function recordThings(node: BusNode, count: number, options: { concurrently?: boolean; from?: number } = {}): Promise<ThingEvent[]> {
  const one = (index: number) =>
    node.db.fork().transactional(async (em) => {
      const id = randomUUID();
      await em.getConnection().execute(`insert into "${node.source}"."things" ("id", "label") values (?, ?)`, [id, `thing ${index}`], 'run', em.getTransactionContext());
      return node.bus.record(em, { contract: ThingHappened, key: `thing-${String(index).padStart(4, '0')}`, data: { thingId: id, index } });
    });
  const indexes = Array.from({ length: count }, (_, offset) => (options.from ?? 1) + offset);
  if (options.concurrently) return Promise.all(indexes.map(one));
  const events: ThingEvent[] = [];
  for (const index of indexes) events.push(await one(index));
  return events;
}

/** Polls `check` until it returns true (bounded: fails after `timeoutMs`). */
export async function eventually(check: () => Promise<boolean> | boolean, options: { timeoutMs?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
