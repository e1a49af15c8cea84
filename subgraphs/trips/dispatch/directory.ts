import { Batcher } from '../../../platform/batcher.ts';
import { calleeError } from '../../../platform/service-client.ts';
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

/** How dispatch's calls to drivers are coalesced (platform/batcher.ts group commit). */
export interface DirectoryBatching {
  /** Most calls of one kind in one request (drivers takes at most 100). Default 100. */
  maxBatch?: number;
  /** Requests of one kind at once; looks asked meanwhile go together in the next. Default 1. */
  maxInFlight?: number;
}

const CANDIDATE_FIELDS = 'driverId userId vehicleType distanceM lastSeenAt rating acceptanceRate completionRate idleSeconds';
const CANDIDATES = `query DispatchCandidatesBatch($queries: [DispatchCandidatesQuery!]!) {
  dispatchCandidatesBatch(queries: $queries) { candidates { ${CANDIDATE_FIELDS} } error { code message } }
}`;
const RESERVE = `mutation ReserveDriversForOffers($reservations: [OfferReservationInput!]!) {
  reserveDriversForOffers(reservations: $reservations) { reserved error { code message } }
}`;
const RELEASE = `mutation ReleaseOfferedDrivers($tripId: ID!, $driverIds: [ID!]!) { releaseOfferedDrivers(tripId: $tripId, driverIds: $driverIds) }`;

type CandidatesQuery = Parameters<DriverDirectory['candidates']>[0];
interface Reservation {
  tripId: string;
  driverIds: string[];
  atMost: number;
}
interface Answer<T> {
  value: T | null;
  error: { code: string; message: string } | null;
}

/**
 * Drivers over HTTP. In a burst every trip looks for candidates and reserves some within milliseconds
 * of the others: the looks (and the reservations) of trips dispatching at the same time go to drivers
 * in one call, `dispatchCandidatesBatch` (`reserveDriversForOffers`), each answered on its own. Measured
 * on bench:dispatch: two HTTP requests per trip became a few per burst. A call that fails (drivers did
 * not answer) fails every look in it; the dispatcher retries rounds.
 */
export function httpDriverDirectory(drivers: ServiceRequester, batching: DirectoryBatching = {}): DriverDirectory {
  const options = { maxBatchSize: Math.min(batching.maxBatch ?? 100, 100), maxInFlight: batching.maxInFlight ?? 1, onBatchFailure: 'fail-all' as const };
  const looks = new Batcher<CandidatesQuery, Answer<Candidate[]>>(async (queries) => {
    const { dispatchCandidatesBatch } = await drivers.request<{ dispatchCandidatesBatch: Array<{ candidates: Candidate[] | null; error: Answer<never>['error'] }> }>(CANDIDATES, {
      queries: queries.map(({ near, radiusM, vehicleTypes, first }) => ({ near: { lat: near.lat, lng: near.lng }, radiusM: Math.round(radiusM), vehicleTypes, first })),
    });
    return dispatchCandidatesBatch.map(({ candidates, error }) => ({ value: candidates, error }));
  }, options);
  const reservations = new Batcher<Reservation, Answer<string[]>>(async (asked) => {
    const { reserveDriversForOffers } = await drivers.request<{ reserveDriversForOffers: Array<{ reserved: string[] | null; error: Answer<never>['error'] }> }>(RESERVE, { reservations: asked });
    return reserveDriversForOffers.map(({ reserved, error }) => ({ value: reserved, error }));
  }, options);
  return {
    async candidates(query) {
      return valueOf(await looks.submit(query));
    },
    async reserve(tripId, driverIds, atMost) {
      if (driverIds.length === 0 || atMost < 1) return [];
      return valueOf(await reservations.submit({ tripId, driverIds, atMost }));
    },
    async release(tripId, driverIds) {
      if (driverIds.length === 0) return 0;
      return (await drivers.request<{ releaseOfferedDrivers: number }>(RELEASE, { tripId, driverIds })).releaseOfferedDrivers;
    },
  };
}

/** A call's own answer; a refusal as the AppError drivers would have thrown for the single call. */
function valueOf<T>(answer: Answer<T>): T {
  if (answer.value !== null) return answer.value;
  const code = answer.error?.code;
  throw calleeError('drivers', code, answer.error?.message ?? 'drivers answered neither a value nor an error.');
}
