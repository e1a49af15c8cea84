import { cellToBoundary, cellToLatLng, getHexagonEdgeLengthAvg, gridDisk, latLngToCell } from 'h3-js';
import type { EntityManager } from '../../platform/db.ts';
import { haversineMeters, type LatLng } from '../../platform/geo.ts';
import { formatMultiplier } from './fares.ts';
import { cellsAmong, sql } from './surge-store.ts';
import { SURGE_FLOOR, SURGE_RESOLUTION } from './surge.ts';

export interface SurgeCellView {
  h3Index: string;
  multiplier: string;
  demand: number;
  supply: number | null;
  center: LatLng;
  boundary: LatLng[];
}

export interface SurgeMapView {
  resolution: number;
  /** When the newest of these cells was last recomputed (null: none has been). */
  computedAt: Date | null;
  cells: SurgeCellView[];
}

/**
 * The res-8 cells whose centre lies within `radiusM` of `center` (the centre's own cell always),
 * nearest first. Neighbouring centres are at least ~0.7 × edge × √3 apart anywhere on the globe, which
 * bounds the rings of the disk to search.
 */
export function cellsWithin(center: LatLng, radiusM: number): string[] {
  const origin = latLngToCell(center.lat, center.lng, SURGE_RESOLUTION);
  const spacing = getHexagonEdgeLengthAvg(SURGE_RESOLUTION, 'm') * Math.sqrt(3) * 0.7;
  const rings = Math.ceil(radiusM / spacing) + 1;
  const within = gridDisk(origin, rings)
    .map((cell) => {
      const [lat, lng] = cellToLatLng(cell);
      return { cell, distance: cell === origin ? 0 : haversineMeters(center, { lat, lng }) };
    })
    .filter(({ distance }) => distance <= radiusM);
  within.sort((a, b) => a.distance - b.distance || a.cell.localeCompare(b.cell));
  return within.map(({ cell }) => cell);
}

/**
 * Surge around a point, for riders and drivers: every cell's published multiplier, and the demand
 * and supply it was computed from. Two statements: the stored cells, and whether supply is known.
 */
export async function surgeMap(em: EntityManager, center: LatLng, radiusM: number, supplyFreshSince: Date): Promise<SurgeMapView> {
  const cells = cellsWithin(center, radiusM);
  const [stored, [latest]] = await Promise.all([
    cellsAmong(em, cells),
    sql<{ known: boolean }>(em, `select exists (select 1 from "pricing"."surge_supply" where "taken_at" > ?) as "known"`, [supplyFreshSince]),
  ]);
  const byCell = new Map(stored.map((cell) => [cell.h3Cell, cell]));
  const computedAt = stored.reduce<number | null>((newest, cell) => (newest === null || cell.computedAt > newest ? cell.computedAt : newest), null);
  return {
    resolution: SURGE_RESOLUTION,
    computedAt: computedAt === null ? null : new Date(computedAt),
    cells: cells.map((h3Index) => {
      const cell = byCell.get(h3Index);
      const [lat, lng] = cellToLatLng(h3Index);
      return {
        h3Index,
        multiplier: formatMultiplier(cell?.multiplier ?? SURGE_FLOOR),
        demand: cell?.demand ?? 0,
        // A cell without a row had no driver in a fresh snapshot, or nobody knows.
        supply: cell ? cell.supply : latest?.known ? 0 : null,
        center: { lat, lng },
        boundary: cellToBoundary(h3Index).map(([bLat, bLng]) => ({ lat: bLat, lng: bLng })),
      };
    }),
  };
}
