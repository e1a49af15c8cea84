import type { Availability, AvailabilityStore, DriverRef } from '../availability.ts';
import { VEHICLE_TYPES, type VehicleType } from '../entities.ts';
import type { Fix, Verdict } from './fixes.ts';
import { haversineM, type LatLng } from './geo.ts';

/** A driver as the live index knows them. */
export interface LiveDriverState {
  readonly availability: Availability;
  /** The last fix that went live; survives going offline (it is still the last known position). */
  readonly fix: Fix | null;
  /** When the driver was flagged for an implausible speed (ms), or null. */
  readonly spoofingSince: number | null;
  /** The trip the driver is OFFERED or BUSY for, or null. */
  readonly tripId: string | null;
}

export const UNKNOWN_DRIVER: LiveDriverState = Object.freeze({ availability: 'OFFLINE', fix: null, spoofingSince: null, tripId: null });

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
  /** Several vehicle types at once (dispatch); when given, `vehicleType` is ignored. */
  readonly vehicleTypes?: readonly VehicleType[];
  /** How many to find: with several vehicle types, per type (the caller ranks them together). */
  readonly first: number;
}

/** The vehicle types a query searches. */
export function typesOf(query: NearbyQuery): readonly VehicleType[] {
  return query.vehicleTypes ?? (query.vehicleType ? [query.vehicleType] : VEHICLE_TYPES);
}

export interface NearbyCandidate {
  readonly driverId: string;
  readonly lat: number;
  readonly lng: number;
  readonly recordedAt: number;
  /** When the driver last became AVAILABLE by going online or ending a trip (a declined offer does not count): dispatch fairness. */
  readonly idleSince: number;
}

export interface NearbyDriverHit extends NearbyCandidate {
  readonly distanceM: number;
}

/**
 * The live side of the drivers subgraph: availability, the last fix of every driver, presence and the
 * geo index. Two implementations: Redis (every replica shares it; each write to a driver is one Lua
 * script in the driver's slot, the geo index following it: redis-store.ts) and embedded (in-process
 * state, positions mirrored to a Postgres table searched by H3 cell).
 */
export interface LiveStore extends AvailabilityStore {
  readonly kind: 'redis' | 'embedded';
  /** Live state of each driver (UNKNOWN_DRIVER when none), in one round trip. */
  read(driverIds: readonly string[]): Promise<Map<string, LiveDriverState>>;
  /**
   * Judges validated fixes (oldest first) against the last live fix, then in one atomic step: refuses
   * an offline driver, applies the rate limit, and for the fix that goes live updates the driver's
   * state and presence and publishes it to the driver's channel; then puts that fix in the geo index
   * (awaited: the caller's next search finds it).
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
  /**
   * Atomically per driver, going down `driverIds` in order: each still AVAILABLE becomes OFFERED for
   * `tripId` and joins the trip's offer set, until `atMost` (default: all) are. Returns the ids
   * reserved, in the order given (the others were taken meanwhile).
   */
  reserve(tripId: string, driverIds: readonly string[], now: number, atMost?: number): Promise<string[]>;
  /** Each of `driverIds` still OFFERED for `tripId` goes back to AVAILABLE; returns those released. */
  release(tripId: string, driverIds: readonly string[], now: number): Promise<string[]>;
  /** Every driver still OFFERED for `tripId` (from its offer set), but `except`, goes back to AVAILABLE; the offer set is forgotten. */
  releaseTrip(tripId: string, except: string | null, now: number): Promise<string[]>;
  /** COOLDOWN drivers whose cooldown ended by `now` become AVAILABLE; returns them. Idempotent: every replica may run it. */
  endCooldowns(now: number): Promise<string[]>;
  /** Positions of AVAILABLE drivers with a fix no older than `freshSince`, for supply counts. */
  availablePositions(freshSince: number): Promise<LatLng[]>;
}

/** How long a trip's offer set is kept at most: offers last seconds; this only bounds leftovers. */
export const OFFER_SET_TTL_MS = 3_600_000;

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
