import type { VehicleType } from '../entities.ts';

/**
 * Which vehicles may serve a quoted type. ECONOMY < COMFORT < PREMIUM: a rider is never sent a lesser car
 * but may get a better one at the quoted fare (upgrades keep wait times short). XL (more seats) is its own
 * class: only XL serves XL, and XL never serves the sedan classes (a van for one passenger wastes the van).
 */
const SEDAN_TIERS: readonly VehicleType[] = ['ECONOMY', 'COMFORT', 'PREMIUM'];

export function eligibleVehicleTypes(quoted: VehicleType): VehicleType[] {
  const tier = SEDAN_TIERS.indexOf(quoted);
  return tier < 0 ? [quoted] : SEDAN_TIERS.slice(tier);
}

/** 1 for the quoted type, 0.5 one tier up, 0 two tiers up (or a type that cannot serve it). */
export function vehicleMatch(quoted: VehicleType, offered: VehicleType): number {
  if (quoted === offered) return 1;
  const from = SEDAN_TIERS.indexOf(quoted);
  const to = SEDAN_TIERS.indexOf(offered);
  if (from < 0 || to < from) return 0;
  return Math.max(0, 1 - (to - from) / 2);
}

/** What dispatch knows about a candidate driver (drivers' `DispatchCandidate`). */
export interface Candidate {
  driverId: string;
  userId: string;
  vehicleType: VehicleType;
  distanceM: number;
  /** 1.0 to 5.0. */
  rating: number;
  /** 0..1: offers accepted over offers received. */
  acceptanceRate: number;
  /** 0..1: accepted trips completed. */
  completionRate: number;
  /** Seconds since the driver's last trip ended (or since they came online). */
  idleSeconds: number;
}

export const SCORE_WEIGHTS = Object.freeze({ distance: 0.4, rating: 0.2, acceptance: 0.15, completion: 0.1, vehicle: 0.1, idle: 0.05 });

/** Idle time stops adding fairness past this: ten minutes waiting is as deserving as an hour. */
export const IDLE_SATURATION_S = 600;

const clamp01 = (value: number) => (Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0);

/**
 * Every term normalised to 0..1 (higher is better), then weighted; the score is therefore 0..1.
 * - distance: 1 at the pickup, 0 at the round's radius (linear), so a round's edge counts for nothing;
 * - rating: 1.0 → 0, 5.0 → 1 (linear);
 * - acceptance and completion rates: as they are;
 * - vehicle match: see `vehicleMatch`;
 * - idle fairness: linear up to IDLE_SATURATION_S, then 1.
 */
export function scoreCandidate(candidate: Candidate, quoted: VehicleType, radiusM: number): number {
  const terms = {
    distance: 1 - clamp01(candidate.distanceM / Math.max(1, radiusM)),
    rating: clamp01((candidate.rating - 1) / 4),
    acceptance: clamp01(candidate.acceptanceRate),
    completion: clamp01(candidate.completionRate),
    vehicle: vehicleMatch(quoted, candidate.vehicleType),
    idle: clamp01(candidate.idleSeconds / IDLE_SATURATION_S),
  };
  let score = 0;
  for (const [term, weight] of Object.entries(SCORE_WEIGHTS)) score += weight * terms[term as keyof typeof terms];
  return score;
}

export interface RankedCandidate extends Candidate {
  score: number;
}

/** Best first; ties go to the nearer driver, then by id so that every replica ranks alike. */
export function rankCandidates(candidates: readonly Candidate[], quoted: VehicleType, radiusM: number): RankedCandidate[] {
  return candidates
    .map((candidate) => ({ ...candidate, score: scoreCandidate(candidate, quoted, radiusM) }))
    .sort((a, b) => b.score - a.score || a.distanceM - b.distanceM || (a.driverId < b.driverId ? -1 : a.driverId > b.driverId ? 1 : 0));
}
