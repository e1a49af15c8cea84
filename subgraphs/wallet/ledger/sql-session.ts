import { createHash } from 'node:crypto';
import type pg from 'pg';
import { executeStatement, numberedPlaceholders, type EntityManager } from '../../../platform/db.ts';

/** A row as the database returned it. */
export type Row = Record<string, unknown>;

/** Runs one statement (`?` placeholders) and answers its rows. */
export type RunStatement = <T extends Row = Row>(sql: string, params?: readonly unknown[]) => Promise<T[]>;

/** One statement on its own, prepared on Postgres (platform/db.ts `executeStatement`). */
export function statementOn(em: EntityManager): RunStatement {
  return (sql, params = []) => executeStatement(em, sql, params);
}

/**
 * Runs `work` in one transaction. On Postgres it holds one pooled connection of its own and every
 * statement is a named prepared statement of that connection (parsed and planned once per connection,
 * parameters sent apart from the text: a batch's arrays are never formatted into SQL). MikroORM's
 * `em.transactional` would inline every parameter into the text instead. On PGlite (one in-process
 * connection) it is `em.transactional`. Database errors come out as MikroORM's exceptions either way.
 *
 * (platform/db.ts `executeStatement` does the same for single statements; this could join it there.)
 */
export async function inTransaction<T>(em: EntityManager, work: (run: RunStatement) => Promise<T>): Promise<T> {
  const pool = await poolOf(em);
  if (!pool) {
    return em.transactional((tx) => work((sql, params = []) => executeStatement(tx, sql, params)));
  }
  const onQuery = em.config.get('onQuery');
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await work(async <R extends Row>(sql: string, params: readonly unknown[] = []) => {
      onQuery(sql, params as unknown[]);
      const { name, text } = preparedOf(sql);
      return (await client.query({ name, text, values: params as unknown[] })).rows as R[];
    });
    await client.query('commit');
    return result;
  } catch (error) {
    try {
      await client.query('rollback');
    } catch (rollbackError) {
      broken = rollbackError as Error; // the connection is unusable: the pool drops it on release
    }
    throw isDatabaseError(error) ? em.getDriver().convertException(error) : error;
  } finally {
    client.release(broken);
  }
}

/** Statement names by text (texts come from code: a small, fixed set). */
const prepared = new Map<string, { name: string; text: string }>();

function preparedOf(sql: string) {
  let statement = prepared.get(sql);
  if (!statement) {
    statement = { name: `ledger_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`, text: numberedPlaceholders(sql) };
    prepared.set(sql, statement);
  }
  return statement;
}

/** Each MikroORM connection's `pg` pool, or null on PGlite. */
const pools = new WeakMap<object, pg.Pool | null>();

async function poolOf(em: EntityManager): Promise<pg.Pool | null> {
  const connection = em.getConnection() as unknown as { getNativeClient?: () => Promise<unknown> };
  let pool = pools.get(connection);
  if (pool === undefined) {
    const client = connection.getNativeClient ? await connection.getNativeClient() : undefined;
    // By shape: MikroORM's driver bundles its own copy of `pg`, so `instanceof` against ours is false.
    pool = typeof client === 'object' && client !== null && 'idleCount' in client && typeof (client as pg.Pool).connect === 'function' ? (client as pg.Pool) : null;
    pools.set(connection, pool);
  }
  return pool;
}

const isDatabaseError = (error: unknown): error is Error => error instanceof Error && typeof (error as { severity?: unknown }).severity === 'string';

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
