import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { EntityManager, MikroORM as CoreMikroORM, Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import type { Migration } from '@mikro-orm/migrations';
import type pg from 'pg';
import { lockEmbeddedCluster, type EmbeddedLock } from './embedded-lock.ts';
import type { Logger } from './logger.ts';

export type { EntityManager };

export interface MigrationEntry {
  name: string;
  class: new (...args: any[]) => Migration;
}

export interface DatabaseOptions {
  /** The subgraph's own Postgres schema (and, embedded, its own PGlite cluster under dataDir). */
  schema: string;
  entities: Options['entities'];
  migrations: MigrationEntry[];
  /** Real Postgres; when absent the embedded PGlite cluster `${dataDir}/${schema}` is used. */
  databaseUrl?: string;
  dataDir?: string;
  logger: Logger;
  /** Called for every SQL statement sent to the database (statement counting in tests and metrics). */
  onStatement?: (sql: string) => void;
  poolMax?: number;
  /**
   * Postgres only: statements running longer are cancelled (SQLSTATE 57014, answered as
   * SERVICE_UNAVAILABLE with reason DEADLINE_EXCEEDED). Set on every pooled connection at its start;
   * migrations run without it. Embedded PGlite (one in-process connection) has none. 0 or absent: no limit.
   */
  statementTimeoutMs?: number;
}

export interface Database {
  readonly orm: CoreMikroORM;
  readonly kind: 'postgres' | 'pglite';
  /** A fresh EntityManager for one unit of work (one per request). */
  fork(): EntityManager;
  /** Answers when the database executes a trivial statement; used by readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a subgraph's database: the real Postgres at `databaseUrl` (one schema per subgraph) or an
 * embedded PGlite cluster, then applies the subgraph's migrations. The ORM instance belongs to the
 * caller; nothing here is a module-level singleton.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const { schema, logger } = options;
  const common = {
    entities: options.entities,
    schema,
    extensions: [Migrator],
    migrations: {
      migrationsList: options.migrations,
      tableName: 'mikro_orm_migrations',
      schema,
      snapshot: false,
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    onQuery: (sql: string) => {
      options.onStatement?.(sql);
      return sql;
    },
    debug: false,
  } satisfies Partial<Options>;

  let orm: CoreMikroORM;
  let kind: Database['kind'];
  /** Embedded only: this process's hold on the cluster directory (platform/embedded-lock.ts). */
  let lock: EmbeddedLock | undefined;
  if (options.databaseUrl) {
    const { MikroORM } = await import('@mikro-orm/postgresql');
    // statement_timeout goes in each connection's startup packet: a session default that `reset all` keeps.
    const driverOptions = options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : undefined;
    orm = await MikroORM.init({ ...common, clientUrl: options.databaseUrl, pool: { min: 0, max: options.poolMax ?? 10 }, ...(driverOptions ? { driverOptions } : {}) } as any);
    kind = 'postgres';
  } else {
    const { MikroORM } = await import('@mikro-orm/pglite');
    const clusterDir = path.resolve(options.dataDir ?? '.data', schema);
    mkdirSync(path.dirname(clusterDir), { recursive: true });
    // Before PGlite touches the directory: another process that has it open makes this throw DataDirectoryInUseError.
    lock = lockEmbeddedCluster(clusterDir);
    try {
      orm = await MikroORM.init({ ...common, dbName: clusterDir } as any);
    } catch (error) {
      lock.release();
      throw error;
    }
    kind = 'pglite';
  }

  try {
    await orm.em.getConnection().execute(`create schema if not exists "${schema}"`);
    const migrator = orm.migrator;
    // All migrations in one transaction, as `up()` runs them, but free of the statement timeout: an index
    // built on a large table may take minutes.
    const connection = orm.em.getConnection();
    if (kind === 'postgres' && options.statementTimeoutMs) await migrator.getPending(); // its setup, before the transaction holds a connection
    const applied = kind === 'postgres' && options.statementTimeoutMs
      ? await connection.transactional(async (transaction) => {
          await connection.execute('set local statement_timeout = 0', [], 'run', transaction);
          return migrator.up({ transaction });
        })
      : await migrator.up();
    if (applied.length > 0) logger.info({ schema, migrations: applied.map((m) => m.name) }, 'migrations applied');
  } catch (error) {
    await orm.close(true).catch(() => {});
    lock?.release();
    throw error;
  }

  return {
    orm,
    kind,
    fork: () => orm.em.fork() as EntityManager,
    async ping() {
      await orm.em.getConnection().execute('select 1');
    },
    async close() {
      try {
        await orm.close(true);
      } finally {
        lock?.release();
      }
    },
  };
}

/** Prepared statements kept per process: statement texts come from code, so this only guards a mistake. */
const MAX_PREPARED = 1_000;
/** By statement text: its `$n` form and, for the first MAX_PREPARED texts, the name it is prepared under. */
const prepared = new Map<string, { name: string | undefined; text: string }>();
/** Each MikroORM connection's `pg` pool, or null on PGlite: found once, not per statement. */
const pools = new WeakMap<object, pg.Pool | null>();

/**
 * Runs one statement on its own (never inside a transaction: pass the transaction's em to
 * `em.execute` for that), `?` placeholders as everywhere else. On Postgres it is a named prepared
 * statement, parsed and planned once per pooled connection: MikroORM's `execute` formats every
 * parameter into the SQL text instead, so Postgres parses and plans each call anew and the text is
 * escaped in Node. On PGlite (one in-process connection) it is `em.execute`. Errors are MikroORM's
 * (UniqueConstraintViolationException, ...) either way, and the statement is counted like any other.
 */
export async function executeStatement<T = Record<string, unknown>>(em: EntityManager, sql: string, params: readonly unknown[] = []): Promise<T[]> {
  const pool = await pgPoolOf(em);
  if (em.isInTransaction() || !pool) return (em as unknown as { execute(sql: string, params: unknown[], method: 'all'): Promise<T[]> }).execute(sql, [...params], 'all');
  const statement = preparedStatement(sql);
  em.config.get('onQuery')(sql, params as unknown[]);
  try {
    const result = await pool.query({ name: statement.name, text: statement.text, values: params as unknown[] });
    return result.rows as T[];
  } catch (error) {
    throw em.getDriver().convertException(error as Error);
  }
}

/**
 * A statement text's `$n` form and the name it is prepared under on every connection (one cache per
 * process for every caller, so a text is hashed once). Past MAX_PREPARED texts a text still runs with
 * parameters, unnamed (parsed each time, never kept).
 */
export function preparedStatement(sql: string): { name: string | undefined; text: string } {
  let statement = prepared.get(sql);
  if (!statement) {
    const name = prepared.size < MAX_PREPARED ? `smartline_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}` : undefined;
    statement = { name, text: numberedPlaceholders(sql) };
    if (name) prepared.set(sql, statement);
  }
  return statement;
}

/** The `pg` pool behind an EntityManager's connection, or null on PGlite (found once per connection). */
export async function pgPoolOf(em: EntityManager): Promise<pg.Pool | null> {
  const connection = em.getConnection() as unknown as { getNativeClient?: () => Promise<unknown> };
  let pool = pools.get(connection);
  if (pool === undefined) {
    const client = connection.getNativeClient ? await connection.getNativeClient() : undefined;
    pool = isPgPool(client) ? client : null;
    pools.set(connection, pool);
  }
  return pool;
}

/**
 * A `pg` pool (MikroORM's PostgreSQL driver), not PGlite. By shape: the driver bundles its own copy of
 * `pg`, so `instanceof` against ours is false.
 */
function isPgPool(client: unknown): client is pg.Pool {
  return typeof client === 'object' && client !== null && typeof (client as pg.Pool).query === 'function' && 'idleCount' in client && 'totalCount' in client;
}

/** `?` → `$1, $2, …`, outside quoted strings and identifiers. */
export function numberedPlaceholders(sql: string): string {
  let out = '';
  let index = 0;
  let quote: string | null = null;
  for (const char of sql) {
    if (quote) {
      if (char === quote) quote = null;
      out += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      out += char;
    } else if (char === '?') {
      out += `$${++index}`;
    } else {
      out += char;
    }
  }
  return out;
}

/**
 * A Postgres array literal (`{"a","b",NULL}`) for a `?::type[]` parameter. Arrays travel as one text
 * parameter, so the same statement runs on a `pg` connection and through MikroORM's formatting (which
 * would spread a JS array into a list).
 */
export function arrayLiteral(values: readonly (string | bigint | number | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null) parts[i] = 'NULL';
    else if (typeof value !== 'string') parts[i] = String(value);
    else parts[i] = NEEDS_ESCAPE.test(value) ? `"${value.replace(/[\\"]/g, '\\$&')}"` : `"${value}"`;
  }
  return `{${parts.join(',')}}`;
}

const NEEDS_ESCAPE = /[\\"]/;
