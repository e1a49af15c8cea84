import { AppError } from './errors.ts';
import { haversineMeters, type LatLng } from './geo.ts';
import { EVERY_DAY, localTime, windowContains, WORK_WEEK, type WeeklyWindow } from './time-windows.ts';

export { haversineMeters };
export type { LatLng };

export interface RouteEstimate {
  /** Road distance in whole metres. */
  distanceM: number;
  /** Driving time in whole seconds. */
  durationS: number;
}

export interface EstimateOptions {
  /** When the trip starts (default: now). Traffic, and so the duration, depends on it. */
  departAt?: Date;
}

/** Where distances and durations come from: a routing service in production, an estimate here. */
export interface RoutingProvider {
  estimate(pickup: LatLng, dropoff: LatLng, options?: EstimateOptions): Promise<RouteEstimate>;
}

/** An average driving speed in a weekly window of local time. */
export interface SpeedWindow extends WeeklyWindow {
  readonly name: string;
  readonly speedKmh: number;
}

const hours = (h: number) => h * 60;

/**
 * Cairo's traffic, coarsely (local time): rush hours on work days (Sunday to Thursday) crawl, the
 * small hours flow. Outside every window the average speed applies.
 */
export const CAIRO_SPEED_WINDOWS: readonly SpeedWindow[] = Object.freeze([
  { name: 'morning-rush', days: WORK_WEEK, startMinute: hours(7), endMinute: hours(10), speedKmh: 18 },
  { name: 'evening-rush', days: WORK_WEEK, startMinute: hours(16), endMinute: hours(20), speedKmh: 18 },
  { name: 'late-night', days: EVERY_DAY, startMinute: hours(23), endMinute: hours(6), speedKmh: 35 },
]);

export interface StraightLineRoutingOptions {
  /** Road distance per straight-line distance. Default 1.3. */
  roadFactor?: number;
  /** Average driving speed in km/h outside every speed window. Default 25 (Cairo traffic). */
  averageSpeedKmh?: number;
  /** Speeds by local time; when windows overlap the slowest applies. Default CAIRO_SPEED_WINDOWS. */
  speedWindows?: readonly SpeedWindow[];
  /** The city's IANA time zone the windows are read in. Default Africa/Cairo. */
  timeZone?: string;
  now?: () => Date;
}

/** The driving speed at `at`: the slowest matching window's, else the average. */
export function speedAt(at: Date, options: Pick<StraightLineRoutingOptions, 'averageSpeedKmh' | 'speedWindows' | 'timeZone'> = {}): number {
  const time = localTime(at, options.timeZone ?? 'Africa/Cairo');
  let speed: number | undefined;
  for (const window of options.speedWindows ?? CAIRO_SPEED_WINDOWS) {
    if (windowContains(window, time) && (speed === undefined || window.speedKmh < speed)) speed = window.speedKmh;
  }
  return speed ?? options.averageSpeedKmh ?? 25;
}

/**
 * No outside routing service is reachable: the road distance is the great-circle distance × a road
 * factor, driven at the speed of the hour. Rounded to whole metres and seconds (prices use integers).
 */
export function createStraightLineRoutingProvider(options: StraightLineRoutingOptions = {}): RoutingProvider {
  const roadFactor = options.roadFactor ?? 1.3;
  const now = options.now ?? (() => new Date());
  return {
    async estimate(pickup, dropoff, estimate = {}) {
      const distanceM = Math.round(haversineMeters(pickup, dropoff) * roadFactor);
      const metresPerSecond = (speedAt(estimate.departAt ?? now(), options) * 1000) / 3600;
      return { distanceM, durationS: Math.round(distanceM / metresPerSecond) };
    },
  };
}

export interface OsrmRoutingOptions {
  /** The OSRM server, e.g. http://osrm:5000 (no trailing path). */
  baseUrl: string;
  /** Per request; default 1500 ms: a quote must not wait on a slow router. */
  timeoutMs?: number;
  /** Asked instead when OSRM fails or times out; without one, the failure is SERVICE_UNAVAILABLE. */
  fallback?: RoutingProvider;
  fetch?: typeof fetch;
  /** Told about every failure that was answered by the fallback. */
  onFallback?: (error: unknown) => void;
}

interface OsrmRouteResponse {
  code?: string;
  message?: string;
  routes?: Array<{ distance?: unknown; duration?: unknown }>;
}

const isNonNegative = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/**
 * Road distance and duration from an OSRM server (`/route/v1/driving`). OSRM answers with its own
 * traffic-free speeds, so `departAt` is not sent. Not wired by default: the deployment must run one.
 */
export function createOsrmRoutingProvider(options: OsrmRoutingOptions): RoutingProvider {
  const doFetch = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 1500;

  async function ask(pickup: LatLng, dropoff: LatLng): Promise<RouteEstimate> {
    // OSRM takes longitude first.
    const url = `${base}/route/v1/driving/${pickup.lng},${pickup.lat};${dropoff.lng},${dropoff.lat}?overview=false`;
    const response = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    const body = (await response.json().catch(() => ({}))) as OsrmRouteResponse;
    if (!response.ok || body.code !== 'Ok') throw new Error(`OSRM answered ${response.status} ${body.code ?? ''} ${body.message ?? ''}`.trim());
    const route = body.routes?.[0];
    if (!route || !isNonNegative(route.distance) || !isNonNegative(route.duration)) throw new Error('OSRM answered without a usable route');
    return { distanceM: Math.round(route.distance), durationS: Math.round(route.duration) };
  }

  return {
    async estimate(pickup, dropoff, estimate) {
      try {
        return await ask(pickup, dropoff);
      } catch (error) {
        if (!options.fallback) throw new AppError('SERVICE_UNAVAILABLE', 'The routing service is unavailable; try again shortly.', { reason: 'ROUTING_UNAVAILABLE' });
        options.onFallback?.(error);
        return options.fallback.estimate(pickup, dropoff, estimate);
      }
    },
  };
}
