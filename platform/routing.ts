import { haversineMeters, type LatLng } from './geo.ts';

export { haversineMeters };
export type { LatLng };

export interface RouteEstimate {
  /** Road distance in whole metres. */
  distanceM: number;
  /** Driving time in whole seconds. */
  durationS: number;
}

/** Where distances and durations come from: a routing service in production, an estimate here. */
export interface RoutingProvider {
  estimate(pickup: LatLng, dropoff: LatLng): Promise<RouteEstimate>;
}


export interface StraightLineRoutingOptions {
  /** Road distance per straight-line distance. Default 1.3. */
  roadFactor?: number;
  /** Average driving speed in km/h. Default 25 (Cairo traffic). */
  averageSpeedKmh?: number;
}

/**
 * No outside routing service is reachable: the road distance is the great-circle distance × a road
 * factor, driven at an average speed. Rounded to whole metres and seconds (prices use integers).
 */
export function createStraightLineRoutingProvider(options: StraightLineRoutingOptions = {}): RoutingProvider {
  const roadFactor = options.roadFactor ?? 1.3;
  const metresPerSecond = ((options.averageSpeedKmh ?? 25) * 1000) / 3600;
  return {
    async estimate(pickup, dropoff) {
      const distanceM = Math.round(haversineMeters(pickup, dropoff) * roadFactor);
      return { distanceM, durationS: Math.round(distanceM / metresPerSecond) };
    },
  };
}
