import type { SqlEntityManager } from '@mikro-orm/sql';
import { executeStatement, type EntityManager } from '../../platform/db.ts';
import { Trip } from './entities.ts';

/** Conditional updates are written in SQL (`update … where status = … returning *`): the row is the arbiter of every race. */
export const SCHEMA = 'trips';
export const TRIPS = `"${SCHEMA}"."trips"`;
export const OFFERS = `"${SCHEMA}"."trip_offers"`;

/** A row as Postgres returned it: column names, in the current transaction of `em` if it has one. */
export type Row = Record<string, unknown>;

/** A statement through `em`: inside its transaction if it has one, otherwise prepared (platform/db.ts executeStatement). */
export function query<T extends Row = Row>(em: EntityManager, sql: string, params: unknown[] = []): Promise<T[]> {
  return executeStatement<T>(em, sql, params);
}

/** The `insert … returning …` MikroORM would send for `entity`, with its parameters: a `with` clause of a larger statement. */
export function insertOf(em: EntityManager, entity: Trip): { sql: string; params: unknown[] } {
  const insert = (em as unknown as SqlEntityManager).createQueryBuilder(Trip).insert(entity);
  return { sql: insert.getQuery(), params: insert.getParams() as unknown[] };
}

/** `(?, ?, …)` for `values.length` parameters. */
export const placeholders = (values: readonly unknown[]) => `(${values.map(() => '?').join(', ')})`;

/** `in (…)` of string literals we own (statuses), never of user input. */
export const inList = (values: readonly string[]) => `(${values.map((value) => `'${value}'`).join(', ')})`;

/**
 * A trip row as JSON (the pub/sub message of tripUpdates and tripOffers): dates as ISO strings, bigints as
 * decimal strings. `tripFromRow` turns it, or a fresh row, back into a Trip.
 */
export type TripSnapshot = Record<string, string | number | boolean | null>;

export function snapshotOf(row: Row): TripSnapshot {
  const snapshot: TripSnapshot = {};
  for (const [column, value] of Object.entries(row)) {
    snapshot[column] = value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? value.toString() : (value as string | number | boolean | null);
  }
  return snapshot;
}

/** A detached Trip (its own EntityManager), so later events never rewrite an object already handed out. */
export function tripFromRow(em: EntityManager, row: Row | TripSnapshot): Trip {
  return em.fork().map(Trip, { ...row });
}
