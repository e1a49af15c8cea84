import { haversineM, type LatLng } from './geo.ts';

/** One validated GPS fix. Times are epoch milliseconds. */
export interface Fix extends LatLng {
  readonly heading: number | null;
  readonly speedKmh: number | null;
  readonly accuracyM: number | null;
  readonly recordedAt: number;
}

/** The quality rules of the live index; one object so both stores (and the Lua scripts) apply the same. */
export interface LiveRules {
  /** Fixes less precise than this stay out of the live index and the history. */
  readonly maxAccuracyM: number;
  /** Fixes older than this stay out of the live index (they are still history). */
  readonly maxAgeMs: number;
  /** A fix implying more than this since the previous one is treated as spoofed. */
  readonly maxSpeedKmh: number;
  /** A driver without a live fix for this long is gone: the sweeper takes them OFFLINE. */
  readonly presenceTtlMs: number;
  /** At most one updateLocation per driver per window. */
  readonly rateLimitMs: number;
  /** nearbyDrivers shows only drivers whose fix is at most this old. */
  readonly freshnessMs: number;
  /** Tolerated clock skew of the device: recordedAt may be this far in the future. */
  readonly futureSkewMs: number;
}

export const DEFAULT_RULES: LiveRules = Object.freeze({
  maxAccuracyM: 50,
  maxAgeMs: 120_000,
  maxSpeedKmh: 200,
  presenceTtlMs: 30_000,
  rateLimitMs: 2_000,
  freshnessMs: 60_000,
  futureSkewMs: 5_000,
});

/**
 * What happened to one fix:
 * - LIVE: it entered the live index (and went to followers);
 * - SUPERSEDED, STALE, OUT_OF_ORDER: plausible but not the driver's current position (a newer point of
 *   the same batch went live; older than maxAgeMs; not newer than the position already known): history only;
 * - LOW_ACCURACY, IMPLAUSIBLE_SPEED: dropped.
 */
export type Verdict = 'LIVE' | 'SUPERSEDED' | 'STALE' | 'OUT_OF_ORDER' | 'LOW_ACCURACY' | 'IMPLAUSIBLE_SPEED';

const KEPT_IN_HISTORY: ReadonlySet<Verdict> = new Set(['LIVE', 'SUPERSEDED', 'STALE', 'OUT_OF_ORDER']);
export const keptInHistory = (verdict: Verdict) => KEPT_IN_HISTORY.has(verdict);

/** A fix after judging: where it goes. */
export interface Judgement {
  readonly verdicts: Verdict[];
  /** Index of the fix that goes live, or -1. */
  readonly live: number;
  /** Some fix implied an implausible speed: the driver is flagged. */
  readonly spoofing: boolean;
}

/**
 * Judges fixes (oldest first) against the driver's last live fix. Each plausible fix becomes the
 * reference for the next, so a batch is checked as one trajectory; the newest fresh one goes live.
 * The Redis store runs the same steps in Lua (redis-store.ts), keeping its write in one round trip;
 * the two are kept equal by the tests, which run every scenario against both.
 */
export function judgeFixes(previous: Pick<Fix, 'lat' | 'lng' | 'recordedAt'> | null, fixes: readonly Fix[], now: number, rules: LiveRules): Judgement {
  const verdicts: Verdict[] = [];
  let reference = previous;
  let live = -1;
  let spoofing = false;
  fixes.forEach((fix, index) => {
    if (fix.accuracyM !== null && fix.accuracyM > rules.maxAccuracyM) {
      verdicts.push('LOW_ACCURACY');
      return;
    }
    if (reference && fix.recordedAt <= reference.recordedAt) {
      verdicts.push('OUT_OF_ORDER');
      return;
    }
    if (reference && impliedSpeedKmh(reference, fix) > rules.maxSpeedKmh) {
      spoofing = true;
      verdicts.push('IMPLAUSIBLE_SPEED');
      return;
    }
    reference = fix;
    if (now - fix.recordedAt > rules.maxAgeMs) {
      verdicts.push('STALE');
      return;
    }
    if (live >= 0) verdicts[live] = 'SUPERSEDED';
    live = index;
    verdicts.push('LIVE');
  });
  return { verdicts, live, spoofing };
}

/** Speed between two fixes; intervals under a second count as a second (GPS timestamps are coarse). */
export function impliedSpeedKmh(from: Pick<Fix, 'lat' | 'lng' | 'recordedAt'>, to: Pick<Fix, 'lat' | 'lng' | 'recordedAt'>): number {
  const seconds = Math.max((to.recordedAt - from.recordedAt) / 1000, 1);
  return (haversineM(from, to) / seconds) * 3.6;
}

/** What followers of a driver receive on the pub/sub channel (JSON). */
export interface LocationMessage {
  readonly driverId: string;
  readonly lat: number;
  readonly lng: number;
  readonly heading: number | null;
  readonly speedKmh: number | null;
  readonly accuracyM: number | null;
  /** ISO-8601. */
  readonly recordedAt: string;
}

export function locationMessage(driverId: string, fix: Fix): LocationMessage {
  return { driverId, lat: fix.lat, lng: fix.lng, heading: fix.heading, speedKmh: fix.speedKmh, accuracyM: fix.accuracyM, recordedAt: new Date(fix.recordedAt).toISOString() };
}

/** Redis GEO cannot index the polar caps (Web Mercator's limit); such fixes are kept but not searchable. */
export const MAX_INDEXED_LATITUDE = 85.05112878;
export const isIndexable = (point: LatLng) => Math.abs(point.lat) <= MAX_INDEXED_LATITUDE;
