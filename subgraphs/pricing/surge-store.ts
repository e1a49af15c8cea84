/**
 * Surge state in pricing's Postgres (so both run modes and every replica share it): demand rows from
 * TripRequested, supply snapshots from drivers, and the published multiplier of every active cell.
 * Raw SQL here because the work is set-based (counts, bulk upserts); values always go as parameters.
 */
import type { EntityManager } from '../../platform/db.ts';
import { formatMultiplier, parseHundredths, type Hundredths } from './fares.ts';
import type { SurgeState } from './surge.ts';

/** Runs SQL on the em's connection, inside its transaction when it is in one. */
export function sql<T = Record<string, unknown>>(em: EntityManager, query: string, params: unknown[] = []): Promise<T[]> {
  return em.getConnection().execute(query, params, 'all', em.getTransactionContext()) as Promise<T[]>;
}

export async function recordDemand(em: EntityManager, demands: ReadonlyArray<{ tripId: string; h3Cell: string; requestedAt: Date }>) {
  if (demands.length === 0) return;
  await sql(
    em,
    `insert into "pricing"."surge_demand" ("trip_id", "h3_cell", "requested_at") values ${demands.map(() => '(?, ?, ?)').join(', ')} on conflict do nothing`,
    demands.flatMap((demand) => [demand.tripId, demand.h3Cell, demand.requestedAt]),
  );
}

export async function recordSupply(em: EntityManager, snapshot: { takenAt: Date; resolution: number; cells: Record<string, number> }) {
  await sql(em, `insert into "pricing"."surge_supply" ("taken_at", "resolution", "cells") values (?, ?, ?::jsonb) on conflict do nothing`, [snapshot.takenAt, snapshot.resolution, JSON.stringify(snapshot.cells)]);
}

/** Trip requests per cell in (from, to]. */
export async function demandBetween(em: EntityManager, from: Date, to: Date): Promise<Map<string, number>> {
  const rows = await sql<{ h3_cell: string; demand: string | number }>(
    em,
    `select "h3_cell", count(*) as "demand" from "pricing"."surge_demand" where "requested_at" > ? and "requested_at" <= ? group by "h3_cell"`,
    [from, to],
  );
  return new Map(rows.map((row) => [row.h3_cell, Number(row.demand)]));
}

/** The newest snapshot taken in (from, to], if any. */
export async function latestSupply(em: EntityManager, from: Date, to: Date): Promise<{ takenAt: Date; cells: Map<string, number> } | null> {
  const [row] = await sql<{ taken_at: Date | string; cells: Record<string, number> | string }>(
    em,
    `select "taken_at", "cells" from "pricing"."surge_supply" where "taken_at" > ? and "taken_at" <= ? order by "taken_at" desc limit 1`,
    [from, to],
  );
  if (!row) return null;
  const cells = typeof row.cells === 'string' ? (JSON.parse(row.cells) as Record<string, number>) : row.cells;
  return { takenAt: new Date(row.taken_at), cells: new Map(Object.entries(cells)) };
}

/** Drops demand and snapshots too old to matter at `before`. */
export async function pruneInputs(em: EntityManager, demandBefore: Date, supplyBefore: Date) {
  await sql(em, `delete from "pricing"."surge_demand" where "requested_at" <= ?`, [demandBefore]);
  await sql(em, `delete from "pricing"."surge_supply" where "taken_at" <= ?`, [supplyBefore]);
}

export interface SurgeCellRow extends SurgeState {
  h3Cell: string;
  target: Hundredths;
  demand: number;
  supply: number | null;
  computedAt: number;
}

interface RawCell {
  h3_cell: string;
  multiplier: string;
  target: string;
  demand: number;
  supply: number | null;
  changed_at: Date | string;
  raised_at: Date | string | null;
  computed_at: Date | string;
}

const toCell = (row: RawCell): SurgeCellRow => ({
  h3Cell: row.h3_cell,
  multiplier: parseHundredths(String(row.multiplier)),
  target: parseHundredths(String(row.target)),
  demand: Number(row.demand),
  supply: row.supply === null ? null : Number(row.supply),
  changedAt: new Date(row.changed_at).getTime(),
  raisedAt: row.raised_at === null ? null : new Date(row.raised_at).getTime(),
  computedAt: new Date(row.computed_at).getTime(),
});

const CELL_COLUMNS = `"h3_cell", "multiplier"::text as "multiplier", "target"::text as "target", "demand", "supply", "changed_at", "raised_at", "computed_at"`;

export async function allCells(em: EntityManager): Promise<SurgeCellRow[]> {
  return (await sql<RawCell>(em, `select ${CELL_COLUMNS} from "pricing"."surge_cells"`)).map(toCell);
}

/** The stored cells among `cells` (one statement; the list travels as one JSON parameter). */
export async function cellsAmong(em: EntityManager, cells: readonly string[]): Promise<SurgeCellRow[]> {
  if (cells.length === 0) return [];
  const rows = await sql<RawCell>(em, `select ${CELL_COLUMNS} from "pricing"."surge_cells" where "h3_cell" in (select jsonb_array_elements_text(?::jsonb))`, [JSON.stringify(cells)]);
  return rows.map(toCell);
}

/** The published multiplier of one cell: the one lookup an estimate makes. */
export async function multiplierOf(em: EntityManager, h3Cell: string): Promise<Hundredths | null> {
  const [row] = await sql<{ multiplier: string }>(em, `select "multiplier"::text as "multiplier" from "pricing"."surge_cells" where "h3_cell" = ?`, [h3Cell]);
  return row ? parseHundredths(row.multiplier) : null;
}

/** Writes every given cell in one statement and deletes the others named in `remove`. */
export async function saveCells(em: EntityManager, upserts: readonly SurgeCellRow[], remove: readonly string[]) {
  if (upserts.length > 0) {
    const rows = upserts.map((cell) => ({
      h3_cell: cell.h3Cell,
      multiplier: formatMultiplier(cell.multiplier),
      target: formatMultiplier(cell.target),
      demand: cell.demand,
      supply: cell.supply,
      changed_at: new Date(cell.changedAt).toISOString(),
      raised_at: cell.raisedAt === null ? null : new Date(cell.raisedAt).toISOString(),
      computed_at: new Date(cell.computedAt).toISOString(),
    }));
    await sql(
      em,
      `insert into "pricing"."surge_cells" ("h3_cell", "multiplier", "target", "demand", "supply", "changed_at", "raised_at", "computed_at")
       select "h3_cell", "multiplier", "target", "demand", "supply", "changed_at", "raised_at", "computed_at"
       from jsonb_to_recordset(?::jsonb) as x("h3_cell" varchar, "multiplier" numeric, "target" numeric, "demand" integer, "supply" integer, "changed_at" timestamptz, "raised_at" timestamptz, "computed_at" timestamptz)
       on conflict ("h3_cell") do update set "multiplier" = excluded."multiplier", "target" = excluded."target", "demand" = excluded."demand",
         "supply" = excluded."supply", "changed_at" = excluded."changed_at", "raised_at" = excluded."raised_at", "computed_at" = excluded."computed_at"`,
      [JSON.stringify(rows)],
    );
  }
  if (remove.length > 0) {
    await sql(em, `delete from "pricing"."surge_cells" where "h3_cell" in (select jsonb_array_elements_text(?::jsonb))`, [JSON.stringify(remove)]);
  }
}

/**
 * Claims the tick at `at` for this replica: false when another replica is recomputing right now (the
 * transaction-scoped advisory lock is taken; it is released at commit) or already ran a tick less than
 * half an interval ago. Call inside the recompute's transaction.
 */
export async function claimTick(em: EntityManager, at: Date, intervalMs: number): Promise<boolean> {
  const [lock] = await sql<{ locked: boolean }>(em, `select pg_try_advisory_xact_lock(hashtext('smartline:pricing:surge-recompute')) as "locked"`);
  if (lock?.locked !== true) return false;
  const [last] = await sql<{ ran_at: Date | string }>(em, `select "ran_at" from "pricing"."surge_runs" where "id" = 1`);
  if (last && Math.abs(at.getTime() - new Date(last.ran_at).getTime()) < intervalMs / 2) return false;
  await sql(em, `insert into "pricing"."surge_runs" ("id", "ran_at") values (1, ?) on conflict ("id") do update set "ran_at" = excluded."ran_at"`, [at]);
  return true;
}
