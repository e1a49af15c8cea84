import { cellToLatLng, compactCells, getHexagonEdgeLengthAvg, getResolution, gridDisk, gridRing, latLngToCell } from 'h3-js';

import { haversineMeters, type LatLng } from '../../../platform/geo.ts';

export type { LatLng };

/**
 * Redis's own earth radius (geohash_helper.c), so a distance computed here equals the one GEOSEARCH
 * uses, and both live indexes rank drivers identically.
 */
export const EARTH_RADIUS_M = 6372797.560856;

/** Great-circle distance in meters, as Redis computes it. */
export const haversineM = (a: LatLng, b: LatLng): number => haversineMeters(a, b, EARTH_RADIUS_M);

/** Resolution of the H3 cell stored with every live position (res 9: cells of about 0.1 km²). */
export const H3_RESOLUTION = 9;

/** An inclusive range of res-9 H3 indexes (as 64-bit integers) that a query scans. */
export interface CellRange {
  readonly lo: bigint;
  readonly hi: bigint;
}

/** The res-9 cell of a point, as the signed 64-bit integer Postgres stores (bit 63 of an H3 index is always 0). */
export function cellOf(point: LatLng): bigint {
  return BigInt(`0x${latLngToCell(point.lat, point.lng, H3_RESOLUTION)}`);
}

/** The coarsest query resolution tried; at res 5 a disk of 12 rings covers well over 10 km. */
const COARSEST_QUERY_RESOLUTION = 5;
/** Disks up to this many rings are used; past it a coarser resolution is tried. */
const MAX_RINGS = 12;

/**
 * The ranges of res-9 cells whose union covers every point within `radiusM` of `center`.
 *
 * 1. Pick the finest resolution r (9 down to 5) at which a `gridDisk` around the center's cell needs at
 *    most MAX_RINGS rings. Cells vary by ±30% in size over the globe, so the ring count comes from the
 *    *local* spacing of cell centers: a cell k rings out has its center at least k·spacing·√3/2 away,
 *    and the disk must reach radius + 2 circumradii (the center may sit on a corner of its cell, a far
 *    point on a corner of its own), with a 20% margin for distortion across the disk.
 * 2. Cells lying wholly outside the circle (the corners of the hexagonal disk) are dropped, and the rest
 *    compacted (seven siblings become their parent).
 * 3. Every remaining cell becomes the range of its res-9 descendants. In an H3 index the resolution
 *    digits follow the base cell from the most significant end, so the descendants of a cell at res r
 *    are exactly the res-9 indexes between "digits r+1..9 all 0" and "digits r+1..9 all 6": one btree
 *    range scan each.
 * The union is a superset of the circle; callers filter by the exact distance.
 */
export function coveringRanges(center: LatLng, radiusM: number): CellRange[] {
  let resolution = H3_RESOLUTION;
  let geometry = localGeometry(center, resolution);
  let rings = ringsNeeded(radiusM, geometry);
  while (rings > MAX_RINGS && resolution > COARSEST_QUERY_RESOLUTION) {
    resolution -= 1;
    geometry = localGeometry(center, resolution);
    rings = ringsNeeded(radiusM, geometry);
  }
  const origin = latLngToCell(center.lat, center.lng, resolution);
  const inside = gridDisk(origin, rings).filter((cell) => {
    const [lat, lng] = cellToLatLng(cell);
    return haversineM(center, { lat, lng }) - geometry.circumradius <= radiusM;
  });
  return compactCells(inside).map((cell) => descendantRange(BigInt(`0x${cell}`), getResolution(cell)));
}

interface LocalGeometry {
  /** Smallest distance between the center's cell and a neighbour's center, with a 20% margin. */
  readonly spacing: number;
  /** Largest distance from a cell's center to its corners, with a 20% margin. */
  readonly circumradius: number;
}

function localGeometry(center: LatLng, resolution: number): LocalGeometry {
  const origin = latLngToCell(center.lat, center.lng, resolution);
  const [lat, lng] = cellToLatLng(origin);
  let min = Infinity;
  let max = 0;
  try {
    for (const neighbour of gridRing(origin, 1)) {
      const [nLat, nLng] = cellToLatLng(neighbour);
      const distance = haversineM({ lat, lng }, { lat: nLat, lng: nLng });
      min = Math.min(min, distance);
      max = Math.max(max, distance);
    }
  } catch {
    // Next to one of the twelve pentagons rings are undefined: fall back to the global extremes.
    const average = Math.sqrt(3) * getHexagonEdgeLengthAvg(resolution, 'm');
    min = average * 0.69;
    max = average * 1.11;
  }
  return { spacing: min * 0.8, circumradius: (max / Math.sqrt(3)) * 1.2 };
}

function ringsNeeded(radiusM: number, geometry: LocalGeometry): number {
  const step = geometry.spacing * (Math.sqrt(3) / 2);
  return Math.max(1, Math.ceil((radiusM + 2 * geometry.circumradius) / step));
}

const RESOLUTION_SHIFT = 52n;
const DIGIT_BITS = 3n;
const MAX_RESOLUTION = 15;

function descendantRange(cell: bigint, resolution: number): CellRange {
  const target = BigInt(H3_RESOLUTION);
  // The resolution field says 9; digits past the cell's own resolution span 0..6 up to 9, then are 7 (unused).
  let lo = (cell & ~(0xfn << RESOLUTION_SHIFT)) | (target << RESOLUTION_SHIFT);
  let hi = lo;
  for (let digit = resolution + 1; digit <= MAX_RESOLUTION; digit++) {
    const shift = BigInt(MAX_RESOLUTION - digit) * DIGIT_BITS;
    const clear = ~(0x7n << shift);
    if (digit <= H3_RESOLUTION) {
      lo &= clear;
      hi = (hi & clear) | (0x6n << shift);
    } else {
      lo |= 0x7n << shift;
      hi |= 0x7n << shift;
    }
  }
  return { lo, hi };
}
