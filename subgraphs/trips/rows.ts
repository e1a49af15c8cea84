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

/** A new trip: the given fields, dispatch round and version 0, every other column null. */
export function newTrip(em: EntityManager, fields: Partial<Trip>): Trip {
  const trip: Record<string, unknown> = { dispatchRound: 0, version: 0 };
  for (const { property } of columnsOf(em)) trip[property] = (fields as Record<string, unknown>)[property] ?? trip[property] ?? null;
  return trip as unknown as Trip;
}

/** `insert into trips (every column) values (…)` for `trip`, with its parameters: a `with` clause of a larger statement. */
export function insertOf(em: EntityManager, trip: Trip): { sql: string; params: unknown[] } {
  const columns = columnsOf(em);
  return {
    sql: `insert into ${TRIPS} (${columns.map(({ column }) => `"${column}"`).join(', ')}) values ${placeholders(columns)}`,
    params: columns.map(({ property, kind }) => {
      const value = (trip as unknown as Record<string, unknown>)[property];
      return kind === 'bigint' && value !== null ? String(value) : value;
    }),
  };
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

interface TripColumn {
  property: string;
  column: string;
  kind: 'date' | 'bigint' | 'plain';
}
let tripColumns: TripColumn[] | undefined;

/** The Trip entity's columns and how a row's value becomes the property's, read once from MikroORM's metadata. */
function columnsOf(em: EntityManager): TripColumn[] {
  tripColumns ??= Object.values(em.getMetadata().get(Trip).properties)
    .filter((prop) => prop.kind === 'scalar' && prop.fieldNames?.length === 1)
    .map((prop) => ({ property: prop.name, column: prop.fieldNames[0]!, kind: prop.runtimeType === 'Date' ? 'date' : prop.runtimeType === 'bigint' ? 'bigint' : 'plain' }));
  return tripColumns;
}

/**
 * A trip row (or its snapshot) as the Trip the resolvers read: a detached, read-only view, never
 * managed by an EntityManager, so later events never rewrite an object already handed out. (Mapping
 * through a fresh EntityManager fork per row cost more than the rest of an offer's delivery.)
 */
export function tripFromRow(em: EntityManager, row: Row | TripSnapshot): Trip {
  const trip: Record<string, unknown> = {};
  for (const { property, column, kind } of columnsOf(em)) {
    const value = row[column];
    trip[property] = value === null || value === undefined ? null : kind === 'date' ? new Date(value as string) : kind === 'bigint' ? BigInt(value as string) : value;
  }
  return trip as unknown as Trip;
}
