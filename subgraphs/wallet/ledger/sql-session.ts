import { executeStatement, pgPoolOf, preparedStatement, type EntityManager } from '../../../platform/db.ts';

/** A row as the database returned it. */
export type Row = Record<string, unknown>;

/** Runs one statement (`?` placeholders) and answers its rows. */
export type RunStatement = <T extends Row = Row>(sql: string, params?: readonly unknown[]) => Promise<T[]>;

/**
 * One statement on its own, prepared on Postgres (platform/db.ts `executeStatement`). It uses only the
 * EntityManager's connection pool, never its unit of work, so one EntityManager can serve every statement
 * of a repository (a fork builds a unit of work these statements never use: CPU spent for nothing).
 */
export function statementOn(em: EntityManager): RunStatement {
  return (sql, params = []) => executeStatement(em, sql, params);
}

/** A repository's statements on their own: `statementOn` one EntityManager, forked at the first statement. */
export function statementsOf(db: { fork(): EntityManager }): RunStatement {
  let run: RunStatement | undefined;
  return (sql, params) => (run ??= statementOn(db.fork()))(sql, params);
}

/**
 * Runs `work` in one transaction. On Postgres it holds one pooled connection of its own and every
 * statement is a named prepared statement of that connection (parsed and planned once per connection,
 * parameters sent apart from the text: a batch's arrays are never formatted into SQL). MikroORM's
 * `em.transactional` would inline every parameter into the text instead. On PGlite (one in-process
 * connection) it is `em.transactional`. Database errors come out as MikroORM's exceptions either way.
 * The pool and the prepared statements' names are platform/db.ts's, shared with `executeStatement`.
 */
export async function inTransaction<T>(em: EntityManager, work: (run: RunStatement) => Promise<T>): Promise<T> {
  const pool = await pgPoolOf(em);
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
      const { name, text } = preparedStatement(sql);
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

const isDatabaseError = (error: unknown): error is Error => error instanceof Error && typeof (error as { severity?: unknown }).severity === 'string';
