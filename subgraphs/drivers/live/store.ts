import type { Availability, AvailabilityStore, DriverRef } from '../availability.ts';
import type { VehicleType } from '../entities.ts';
import type { Fix, Verdict } from './fixes.ts';
import { haversineM, type LatLng } from './geo.ts';

/** A driver as the live index knows them. */
export interface LiveDriverState {
  readonly availability: Availability;
  /** The last fix that went live; survives going offline (it is still the last known position). */
  readonly fix: Fix | null;
  /** When the driver was flagged for an implausible speed (ms), or null. */
  readonly spoofingSince: number | null;
}

export const UNKNOWN_DRIVER: LiveDriverState = Object.freeze({ availability: 'OFFLINE', fix: null, spoofingSince: null });

export type IngestOutcome =
  | { readonly kind: 'NOT_ONLINE'; readonly availability: Availability }
  | { readonly kind: 'RATE_LIMITED'; readonly retryAfterMs: number }
  | { readonly kind: 'JUDGED'; readonly verdicts: Verdict[]; readonly spoofing: boolean };

export interface IngestOptions {
  /** Whether the per-driver window applies (updateLocation) or not (updateLocations backfill). */
  readonly rateLimited: boolean;
  readonly now: number;
}

export interface NearbyQuery {
  readonly near: LatLng;
  readonly radiusM: number;
  /** Null: every vehicle type. */
  readonly vehicleType: VehicleType | null;
  readonly first: number;
}

export interface NearbyCandidate {
  readonly driverId: string;
  readonly lat: number;
  readonly lng: number;
  readonly recordedAt: number;
}

export interface NearbyDriverHit extends NearbyCandidate {
  readonly distanceM: number;
}

/**
 * The live side of the drivers subgraph: availability, the last fix of every driver, presence and the
 * geo index. Two implementations: Redis (every replica shares it; each write is one Lua script, one
 * round trip) and embedded (in-process state, positions mirrored to a Postgres table searched by H3 cell).
 */
export interface LiveStore extends AvailabilityStore {
  readonly kind: 'redis' | 'embedded';
  /** Live state of each driver (UNKNOWN_DRIVER when none), in one round trip. */
  read(driverIds: readonly string[]): Promise<Map<string, LiveDriverState>>;
  /**
   * Judges validated fixes (oldest first) against the last live fix, then in one atomic step: refuses
   * an offline driver, applies the rate limit, and for the fix that goes live updates the geo index,
   * the driver's state, presence, and publishes it to the driver's channel.
   */
  ingest(driver: DriverRef, fixes: readonly Fix[], options: IngestOptions): Promise<IngestOutcome>;
  /**
   * AVAILABLE drivers with a fix no older than `freshSince` near the point: a superset of the answer,
   * at least the `first` nearest within the radius and every driver tied with them. `rankNearby` decides.
   */
  nearby(query: NearbyQuery, freshSince: number): Promise<NearbyCandidate[]>;
  /**
   * Removes drivers whose presence expired by `now` from the geo index and takes those who may go
   * OFFLINE offline (BUSY and COOLDOWN drivers keep their state). Returns who went offline.
   */
  sweep(now: number, offlineFrom: readonly Availability[]): Promise<string[]>;
}

/**
 * The final, exact step of every nearby search, shared by both stores and the brute-force reference in
 * the tests: exact distance, within the radius, nearest first (ties by driver id), the first `first`.
 */
export function rankNearby(query: NearbyQuery, candidates: readonly NearbyCandidate[]): NearbyDriverHit[] {
  return candidates
    .map((candidate) => ({ ...candidate, distanceM: haversineM(query.near, candidate) }))
    .filter((hit) => hit.distanceM <= query.radiusM)
    .sort((a, b) => a.distanceM - b.distanceM || (a.driverId < b.driverId ? -1 : a.driverId > b.driverId ? 1 : 0))
    .slice(0, query.first);
}
