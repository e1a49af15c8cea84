/** A point on the earth in decimal degrees (WGS 84). */
export interface LatLng {
  readonly lat: number;
  readonly lng: number;
}

/** The IUGG mean earth radius. */
export const MEAN_EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

/**
 * Great-circle distance in metres (the haversine formula). The operations are those of Redis's
 * GEODIST, so with Redis's radius the result equals what GEOSEARCH computes (drivers relies on it).
 */
export function haversineMeters(a: LatLng, b: LatLng, earthRadiusM: number = MEAN_EARTH_RADIUS_M): number {
  const u = Math.sin(((b.lat - a.lat) * RAD) / 2);
  const v = Math.sin(((b.lng - a.lng) * RAD) / 2);
  return 2 * earthRadiusM * Math.asin(Math.min(1, Math.sqrt(u * u + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * v * v)));
}
