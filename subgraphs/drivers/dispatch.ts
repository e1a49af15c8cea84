import type { Database, EntityManager } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { answerEach, type BatchAnswer } from '../../platform/errors.ts';
import { idSchema, isUuid, latLngSchema, parseInput, z } from '../../platform/validation.ts';
import { VEHICLE_TYPES, type VehicleType } from './entities.ts';
import type { LiveLocations } from './live/engine.ts';
import { rankNearby, type NearbyDriverHit, type NearbyQuery } from './live/store.ts';
import { countFor, dispatchProfiles, type DispatchProfile } from './records.ts';
import { LRUCache } from 'lru-cache';

/**
 * The drivers side of dispatch, for trips (service calls only): who can be offered a trip, and the
 * atomic reservation of drivers for an offer. Trips scores and decides; drivers owns the state.
 */

export const MAX_CANDIDATES = 50;
/** The widest search a dispatch round may ask for (config's DISPATCH_RADII_M allows up to 50 km). */
export const MAX_CANDIDATE_RADIUS_M = 50_000;
/** Offers are made to a handful of drivers at once; this only bounds a request. */
export const MAX_OFFERED_AT_ONCE = 50;
/** Most calls in one dispatchCandidatesBatch or reserveDriversForOffers. */
export const MAX_BATCHED_CALLS = 100;
const batchedCallsSchema = z.array(z.unknown()).max(MAX_BATCHED_CALLS, `must list at most ${MAX_BATCHED_CALLS} calls`);
// Built once: a zod object schema built per request cost drivers about 0.2 ms of CPU per dispatched trip (bench:dispatch profile).
const candidatesBatchSchema = z.object({ queries: batchedCallsSchema });
const reservationsBatchSchema = z.object({ reservations: batchedCallsSchema });

/** A driver nobody has rated yet counts as this: above the middle, so a newcomer is not buried under veterans. */
export const DEFAULT_RATING = 4.5;
/**
 * Rates are smoothed towards a neutral prior worth this many offers (or trips): a new driver has
 * exactly the neutral rate, and one declined offer does not sink a driver with two offers to 50 %.
 */
export const RATE_PRIOR_WEIGHT = 5;
export const NEUTRAL_ACCEPTANCE_RATE = 0.8;
export const NEUTRAL_COMPLETION_RATE = 0.9;

/** (successes + weight × neutral) / (trials + weight), within 0..1. */
export function smoothedRate(successes: number, trials: number, neutral: number): number {
  const rate = (successes + RATE_PRIOR_WEIGHT * neutral) / (trials + RATE_PRIOR_WEIGHT);
  return Math.min(1, Math.max(0, rate));
}

export const acceptanceRateOf = (profile: Pick<DispatchProfile, 'offersAccepted' | 'offersReceived'>) =>
  smoothedRate(profile.offersAccepted, profile.offersReceived, NEUTRAL_ACCEPTANCE_RATE);

/** Completed of the trips a driver accepted and did not lose to a rider's cancellation. */
export const completionRateOf = (profile: Pick<DispatchProfile, 'tripsCompleted' | 'tripsCancelledByDriver'>) =>
  smoothedRate(profile.tripsCompleted, profile.tripsCompleted + profile.tripsCancelledByDriver, NEUTRAL_COMPLETION_RATE);

export interface DispatchCandidate {
  driverId: string;
  userId: string;
  vehicleType: VehicleType;
  distanceM: number;
  lastSeenAt: Date;
  rating: number;
  acceptanceRate: number;
  completionRate: number;
  idleSeconds: number;
}

const candidatesArgsSchema = z.object({
  near: latLngSchema,
  radiusM: z.number().int('must be a whole number of meters').min(1, `must be between 1 and ${MAX_CANDIDATE_RADIUS_M}`).max(MAX_CANDIDATE_RADIUS_M, `must be between 1 and ${MAX_CANDIDATE_RADIUS_M}`),
  vehicleTypes: z.array(z.enum(VEHICLE_TYPES)).min(1, 'must name at least one vehicle type').max(VEHICLE_TYPES.length * 2, 'lists too many vehicle types'),
  first: z.number().int('must be a whole number').min(1, `must be between 1 and ${MAX_CANDIDATES}`).max(MAX_CANDIDATES, `must be between 1 and ${MAX_CANDIDATES}`),
});

/** How long a candidate's dispatch profile is reused (DispatchProfileCache). */
export const PROFILE_TTL_MS = 5_000;
const MAX_CACHED_PROFILES = 100_000;

/** Where dispatchCandidates gets profiles: straight from Postgres, or through a DispatchProfileCache. */
export type ProfileSource = (em: EntityManager, driverIds: readonly string[]) => Promise<Map<string, DispatchProfile>>;

/**
 * Dispatch profiles of approved candidates, reused for PROFILE_TTL_MS: in a burst of bookings every
 * driver near the pickups is a candidate of many trips within seconds, and reading their profiles is
 * one SQL statement per look otherwise. What may be seconds old: the rating and the counters (a score
 * moves by a fraction), and approval, which today only ever goes PENDING → APPROVED (and a PENDING
 * driver cannot go online, so is never a candidate); only approved profiles are kept. A suspension,
 * should one be added, must take the driver offline: an offline driver is never a candidate.
 */
export class DispatchProfileCache {
  readonly #entries = new LRUCache<string, { profile: DispatchProfile; until: number }>({ max: MAX_CACHED_PROFILES });
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  readonly lookup: ProfileSource = async (em, driverIds) => {
    const now = this.#now();
    const found = new Map<string, DispatchProfile>();
    const missing: string[] = [];
    for (const id of driverIds) {
      const entry = this.#entries.get(id);
      if (entry && entry.until > now) found.set(id, entry.profile);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    for (const [id, profile] of await dispatchProfiles(em, missing)) {
      found.set(id, profile);
      if (!profile.approved) continue;
      this.#entries.set(id, { profile, until: now + PROFILE_TTL_MS });
    }
    return found;
  };
}

/** How far dispatchCandidates looks past `first` for approved drivers when some near ones are not. */
const MAX_EXAMINED = 200;

/**
 * Online, AVAILABLE, approved drivers with a fix from the last 60 s, of the listed vehicle types,
 * within the radius, nearest first, at most `first`. One live-store round trip (Redis: one Lua script
 * searching the geo set of every listed type) and at most one SQL statement for profiles and counters
 * (none when `profilesOf` has them all: DispatchProfileCache). Only
 * approved drivers can go online, so a second, wider look (when a near driver was not approved, say
 * suspended since) is rare.
 */
export async function dispatchCandidates(live: LiveLocations, em: EntityManager, args: unknown, profilesOf: ProfileSource = dispatchProfiles): Promise<DispatchCandidate[]> {
  const { near, radiusM, vehicleTypes, first } = parseInput(candidatesArgsSchema, args);
  const now = live.now();
  const freshSince = now - live.rules.freshnessMs;
  for (let wanted = first; ; wanted = Math.min(MAX_EXAMINED, wanted * 2)) {
    const query: NearbyQuery = { near, radiusM, vehicleType: null, vehicleTypes: [...new Set(vehicleTypes)], first: wanted };
    const hits = rankNearby(query, await live.store.nearby(query, freshSince));
    const profiles = await profilesOf(em, hits.map((hit) => hit.driverId));
    const candidates: DispatchCandidate[] = [];
    for (const hit of hits) {
      const profile = profiles.get(hit.driverId);
      if (profile?.approved) candidates.push(candidateOf(hit, profile, now));
    }
    const exhausted = hits.length < wanted || wanted >= MAX_EXAMINED;
    if (candidates.length >= first || exhausted) return candidates.slice(0, first);
  }
}

/**
 * dispatchCandidates for several trips in one service call (trips coalesces the looks of trips
 * dispatching at the same time): one HTTP request and GraphQL execution instead of one per trip, and the
 * live store's searches go out together. Each query is answered on its own.
 */
export async function dispatchCandidatesBatch(live: LiveLocations, em: EntityManager, args: unknown, profilesOf: ProfileSource = dispatchProfiles): Promise<Array<BatchAnswer<DispatchCandidate[]>>> {
  const { queries } = parseInput(candidatesBatchSchema, args);
  return answerEach(queries, (query) => dispatchCandidates(live, em, query, profilesOf));
}

function candidateOf(hit: NearbyDriverHit, profile: DispatchProfile, now: number): DispatchCandidate {
  return {
    driverId: hit.driverId,
    userId: profile.userId,
    vehicleType: profile.vehicleType,
    distanceM: Math.round(hit.distanceM),
    lastSeenAt: new Date(hit.recordedAt),
    rating: profile.rating ?? DEFAULT_RATING,
    acceptanceRate: acceptanceRateOf(profile),
    completionRate: completionRateOf(profile),
    idleSeconds: Math.max(0, Math.floor((now - hit.idleSince) / 1000)),
  };
}

const offerArgsSchema = z.object({
  tripId: z.string().refine(isUuid, 'must be a trip id'),
  driverIds: z.array(idSchema).max(MAX_OFFERED_AT_ONCE, `must list at most ${MAX_OFFERED_AT_ONCE} drivers`),
});
const reserveArgsSchema = offerArgsSchema.extend({
  atMost: z.number().int('must be a whole number').min(1, `must be between 1 and ${MAX_OFFERED_AT_ONCE}`).max(MAX_OFFERED_AT_ONCE, `must be between 1 and ${MAX_OFFERED_AT_ONCE}`).nullish(),
});

/** How often counted offers are written (OfferCounts). */
export const OFFER_COUNT_FLUSH_MS = 250;

/**
 * Offers received, counted in memory and added to driver_stats together every OFFER_COUNT_FLUSH_MS: a
 * burst of reservations costs one statement instead of one each, and a reservation's answer does not
 * wait for it. Counts not yet written when the process dies are lost; they only nudge acceptance rates.
 */
export class OfferCounts {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #flushMs: number;
  #pending: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: { db: Database; logger: Logger; flushMs?: number }) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#flushMs = options.flushMs ?? OFFER_COUNT_FLUSH_MS;
  }

  add(driverIds: readonly string[]): void {
    if (driverIds.length === 0) return;
    this.#pending.push(...driverIds);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#flushMs);
  }

  /** Writes what is counted so far (after any write under way); a failed write is retried with the next. */
  flush(): Promise<void> {
    const ids = this.#pending.splice(0);
    this.#writing = this.#writing.then(async () => {
      if (ids.length === 0) return;
      try {
        await countFor(this.#db.fork(), ids, 'offers_received');
      } catch (error) {
        this.#pending.unshift(...ids);
        this.#logger.warn({ err: error, offers: ids.length }, 'could not count offers received; retrying with the next ones');
      }
    });
    return this.#writing;
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

/**
 * AVAILABLE → OFFERED for this trip, atomically per driver (one Lua script in Redis; one synchronous
 * step in embedded mode), so two trips racing for a driver never both get them. Goes down the ids in
 * order until `atMost` are reserved (a trip's ranking: the best still free, in one call). Returns the
 * ids actually reserved, and counts an offer received for each of them (written shortly: OfferCounts).
 */
export async function reserveDriversForOffer(live: LiveLocations, counts: OfferCounts, args: { tripId: unknown; driverIds: unknown; atMost?: unknown }): Promise<string[]> {
  const { tripId, driverIds, atMost } = parseInput(reserveArgsSchema, args);
  const reserved = await live.store.reserve(tripId, [...new Set(driverIds)], live.now(), atMost ?? undefined);
  counts.add(reserved);
  return reserved;
}

/**
 * reserveDriversForOffer for several trips in one service call, each answered on its own. The
 * reservations run at once: each driver's move is atomic in the live store, so a driver two of them
 * want goes to one.
 */
export async function reserveDriversForOffers(live: LiveLocations, counts: OfferCounts, args: unknown): Promise<Array<BatchAnswer<string[]> & { tripId: string }>> {
  const { reservations } = parseInput(reservationsBatchSchema, args) as { reservations: Array<{ tripId: unknown; driverIds: unknown; atMost?: unknown }> };
  const answers = await answerEach(reservations, (reservation) => reserveDriversForOffer(live, counts, reservation));
  return answers.map((answer, i) => ({ ...answer, tripId: String(reservations[i]?.tripId) }));
}

/** OFFERED (for this trip) → AVAILABLE: declined or expired offers. A driver offered another trip meanwhile stays. */
export async function releaseOfferedDrivers(live: LiveLocations, args: { tripId: unknown; driverIds: unknown }): Promise<number> {
  const { tripId, driverIds } = parseInput(offerArgsSchema, args);
  return (await live.store.release(tripId, [...new Set(driverIds)], live.now())).length;
}
