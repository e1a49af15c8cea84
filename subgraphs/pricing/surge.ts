/**
 * Surge, as pure functions: the step table from demand and supply to a target multiplier, and the
 * smoothing that moves a cell's published multiplier toward its target. Multipliers are integer
 * hundredths (130n is ×1.30); times are epoch milliseconds, passed in (the clock is the caller's).
 */
import { latLngToCell } from 'h3-js';
import type { LatLng } from '../../platform/geo.ts';
import type { Hundredths } from './fares.ts';

/** Surge is kept per H3 cell of this resolution (about 0.74 km², 460 m edges). */
export const SURGE_RESOLUTION = 8;
/** Trip requests count as demand for this long. */
export const DEMAND_WINDOW_MS = 10 * 60_000;
export const SURGE_FLOOR: Hundredths = 100n;
export const SURGE_CAP: Hundredths = 300n;
/** The published multiplier moves by at most 0.20 per minute… */
export const MAX_STEP_PER_MINUTE: Hundredths = 20n;
/** …and a raised surge holds this long before it may fall. */
export const RAISE_HOLD_MS = 5 * 60_000;

export const cellOf = (point: LatLng): string => latLngToCell(point.lat, point.lng, SURGE_RESOLUTION);

/**
 * The planning step table over ratio = demand / supply:
 *
 *   ratio < 1 → 1.0 · < 1.5 → 1.1 · < 2 → 1.3 · < 3 → 1.5 · < 4 → 1.8 · else min(ratio × 0.5, 3.0)
 *
 * `supply` null means no supply reading is known: no data, 1.0. No demand is 1.0 whatever the supply.
 * Demand with no available driver is the top of the table with the ratio taken as max(4, demand):
 * ×2.00 for up to four requests, up to ×3.00 from six. Compared in integers, so 3/2 is exactly 1.5.
 */
export function surgeTarget(demand: number, supply: number | null): Hundredths {
  if (!Number.isSafeInteger(demand) || demand < 0) throw new RangeError('demand must be a non-negative integer');
  if (supply !== null && (!Number.isSafeInteger(supply) || supply < 0)) throw new RangeError('supply must be a non-negative integer or null');
  if (supply === null || demand === 0) return SURGE_FLOOR;
  const d = BigInt(demand);
  if (supply === 0) return min((d > 4n ? d : 4n) * 50n, SURGE_CAP);
  const s = BigInt(supply);
  if (d < s) return 100n;
  if (2n * d < 3n * s) return 110n;
  if (d < 2n * s) return 130n;
  if (d < 3n * s) return 150n;
  if (d < 4n * s) return 180n;
  // ratio × 0.5 in hundredths = 50·d/s, rounded half up.
  return min((100n * d + s) / (2n * s), SURGE_CAP);
}

/** What is remembered of a cell between recomputations. */
export interface SurgeState {
  /** The published multiplier. */
  multiplier: Hundredths;
  /** When `multiplier` last changed. */
  changedAt: number;
  /** When it last went up (null: never, or not since the row was created at 1.00). */
  raisedAt: number | null;
}

/** A cell nobody has seen: ×1.00 since forever, so its first move may be a full step. */
export const QUIET_CELL: SurgeState = Object.freeze({ multiplier: SURGE_FLOOR, changedAt: Number.NEGATIVE_INFINITY, raisedAt: null });

/**
 * The next published multiplier of a cell at `now`, moving from `previous` toward `target`:
 * - never outside [1.00, 3.00] (a stored value above the cap is cut at once);
 * - at most 0.01 per 3 s since the last change, and at most 0.20 at once: 0.20 per minute at the
 *   default one-minute interval, and the same rate at any interval, since short ticks accumulate;
 * - after a rise, no fall for 5 minutes.
 */
export function smoothSurge(previous: SurgeState, target: Hundredths, now: number): SurgeState {
  const goal = clamp(target);
  const current = clamp(previous.multiplier);
  if (current !== previous.multiplier) return { multiplier: current, changedAt: now, raisedAt: previous.raisedAt };
  const elapsed = now - previous.changedAt;
  const allowance = elapsed === Number.POSITIVE_INFINITY ? MAX_STEP_PER_MINUTE : min(BigInt(Math.max(0, Math.floor((Number(MAX_STEP_PER_MINUTE) * elapsed) / 60_000))), MAX_STEP_PER_MINUTE);
  if (goal > current) {
    const next = min(goal, current + allowance);
    return next === current ? previous : { multiplier: next, changedAt: now, raisedAt: now };
  }
  if (goal < current) {
    if (previous.raisedAt !== null && now - previous.raisedAt < RAISE_HOLD_MS) return previous;
    const next = max(goal, current - allowance);
    return next === current ? previous : { multiplier: next, changedAt: now, raisedAt: previous.raisedAt };
  }
  return previous;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
const clamp = (value: Hundredths) => max(SURGE_FLOOR, min(value, SURGE_CAP));
