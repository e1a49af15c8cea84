import type { LatLng } from '../../../platform/geo.ts';
import type { VehicleType } from '../entities.ts';
import type { Candidate } from './scoring.ts';

/**
 * What dispatch needs from drivers, the owner of availability and positions. The real one calls the
 * drivers subgraph's service-only fields (`@inaccessible`, SERVICE role) over HTTP with a service token.
 */
export interface DriverDirectory {
  /** Online, AVAILABLE, approved, fresh drivers of these types within `radiusM`, nearest first. */
  candidates(query: { near: LatLng; radiusM: number; vehicleTypes: VehicleType[]; first: number }): Promise<Candidate[]>;
  /** AVAILABLE → OFFERED for this trip, atomically per driver, going down `driverIds` until `atMost` are; the ids actually reserved. */
  reserve(tripId: string, driverIds: string[], atMost: number): Promise<string[]>;
  /** OFFERED (for this trip) → AVAILABLE; how many moved. */
  release(tripId: string, driverIds: string[]): Promise<number>;
}

/** The one call a service client makes (platform/service-client.ts). */
export interface ServiceRequester {
  request<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

const CANDIDATES = `query DispatchCandidates($near: LatLngInput!, $radiusM: Int!, $vehicleTypes: [VehicleType!]!, $first: Int!) {
  dispatchCandidates(near: $near, radiusM: $radiusM, vehicleTypes: $vehicleTypes, first: $first) {
    driverId userId vehicleType distanceM lastSeenAt rating acceptanceRate completionRate idleSeconds
  }
}`;
const RESERVE = `mutation ReserveDriversForOffer($tripId: ID!, $driverIds: [ID!]!, $atMost: Int!) { reserveDriversForOffer(tripId: $tripId, driverIds: $driverIds, atMost: $atMost) }`;
const RELEASE = `mutation ReleaseOfferedDrivers($tripId: ID!, $driverIds: [ID!]!) { releaseOfferedDrivers(tripId: $tripId, driverIds: $driverIds) }`;

export function httpDriverDirectory(drivers: ServiceRequester): DriverDirectory {
  return {
    async candidates({ near, radiusM, vehicleTypes, first }) {
      const data = await drivers.request<{ dispatchCandidates: Candidate[] }>(CANDIDATES, { near: { lat: near.lat, lng: near.lng }, radiusM: Math.round(radiusM), vehicleTypes, first });
      return data.dispatchCandidates;
    },
    async reserve(tripId, driverIds, atMost) {
      if (driverIds.length === 0 || atMost < 1) return [];
      return (await drivers.request<{ reserveDriversForOffer: string[] }>(RESERVE, { tripId, driverIds, atMost })).reserveDriversForOffer;
    },
    async release(tripId, driverIds) {
      if (driverIds.length === 0) return 0;
      return (await drivers.request<{ releaseOfferedDrivers: number }>(RELEASE, { tripId, driverIds })).releaseOfferedDrivers;
    },
  };
}
