import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';
import { AppError, conflict, notFound } from '../../platform/errors.ts';
import { parseInput } from '../../platform/validation.ts';
import { transitionDriver, type DriverRef } from './availability.ts';
import { assertMayGoOnline, type CommissionDebts } from './commission.ts';
import { Driver } from './entities.ts';
import { keptInHistory, type Fix, type Verdict } from './live/fixes.ts';
import type { LiveLocations } from './live/engine.ts';
import { rankNearby, type IngestOutcome, type NearbyDriverHit, type NearbyQuery } from './live/store.ts';
import { nearbyArgsSchema } from './validation.ts';

/** The signed-in driver's own profile, fresh from Postgres (approval may have changed). */
async function ownProfile(em: EntityManager, live: LiveLocations, principal: Principal): Promise<Driver> {
  const driver = await em.findOne(Driver, { userId: principal.userId });
  if (!driver) throw notFound('Your driver profile');
  live.directory.remember(driver);
  return driver;
}

/** What goOnline asks the wallet: the driver's commission debt (commission.ts), and where an unanswered question is logged. */
export interface CommissionGate {
  debts: CommissionDebts;
  logger: Logger;
}

/**
 * OFFLINE → AVAILABLE, from OFFLINE only (an offered or busy driver stays where they are). Only APPROVED profiles: a PENDING or SUSPENDED one is a CONFLICT (the caller is a
 * driver acting on their own profile, so it is allowed in principle; the profile's state is what stands
 * in the way, and the error names it), as is going online twice. A driver whose commission debt reached
 * the limit stays OFFLINE with COMMISSION_DEBT_LIMIT (checked with the wallet while the profile is read;
 * let through when the wallet cannot answer, see commission.ts).
 */
export async function goOnline(em: EntityManager, live: LiveLocations, principal: Principal, gate: CommissionGate, call: ServiceRequestOptions = {}): Promise<Driver> {
  // The wallet's answer is awaited only once the profile may go online: NOT_FOUND and approval come first.
  const debtChecked = assertMayGoOnline(gate.debts, principal.userId, gate.logger, call).then(() => null, (error: unknown) => error);
  const driver = await ownProfile(em, live, principal);
  if (driver.approvalStatus !== 'APPROVED') {
    throw conflict(`Only approved drivers can go online; this profile is ${driver.approvalStatus}.`, { approvalStatus: driver.approvalStatus });
  }
  const refused = await debtChecked;
  if (refused) throw refused;
  await transitionDriver(live.store, refOf(driver), 'AVAILABLE', live.now(), ['OFFLINE']);
  return driver;
}

/** AVAILABLE or OFFERED → OFFLINE; BUSY and COOLDOWN drivers get CONFLICT. */
export async function goOffline(em: EntityManager, live: LiveLocations, principal: Principal): Promise<Driver> {
  const driver = await ownProfile(em, live, principal);
  await transitionDriver(live.store, refOf(driver), 'OFFLINE', live.now());
  return driver;
}

const refOf = (driver: Driver): DriverRef => ({ id: driver.id, userId: driver.userId, vehicleType: driver.vehicleType });

export interface LocationUpdateResult {
  accepted: boolean;
  rejectedReason: string | null;
}

/**
 * A live fix. Validation first (BAD_USER_INPUT, nothing written); then one atomic step in the live store
 * (online check, rate limit, judging, index, presence, publish: one Redis round trip). Postgres is not
 * touched: the driver's identity comes from the directory cache, the history from a background batch.
 */
export async function updateLocation(live: LiveLocations, principal: Principal, input: unknown): Promise<LocationUpdateResult> {
  const now = live.now();
  const fix = parseInput(live.schemas.fix, input);
  const driver = await driverOf(live, principal);
  const outcome = judged(await live.store.ingest(driver, [fix], { rateLimited: true, now }), live);
  const verdict = outcome.verdicts[0];
  afterIngest(live, driver, [fix], outcome.verdicts, outcome.spoofing, now);
  return verdict === 'LIVE' ? { accepted: true, rejectedReason: null } : { accepted: false, rejectedReason: verdict };
}

export interface LocationBatchResult {
  accepted: number;
  rejected: number;
}

/** Backfill after a reconnect: not rate limited; plausible points go to history, the newest fresh one live. */
export async function updateLocations(live: LiveLocations, principal: Principal, batch: unknown): Promise<LocationBatchResult> {
  const now = live.now();
  const { batch: fixes } = parseInput(live.schemas.batch, { batch });
  const driver = await driverOf(live, principal);
  const outcome = judged(await live.store.ingest(driver, fixes, { rateLimited: false, now }), live);
  afterIngest(live, driver, fixes, outcome.verdicts, outcome.spoofing, now);
  const accepted = outcome.verdicts.filter(keptInHistory).length;
  return { accepted, rejected: fixes.length - accepted };
}

async function driverOf(live: LiveLocations, principal: Principal): Promise<DriverRef> {
  const driver = await live.directory.byUserId(principal.userId);
  if (!driver) throw notFound('Your driver profile');
  return driver;
}

function judged(outcome: IngestOutcome, live: LiveLocations): Extract<IngestOutcome, { kind: 'JUDGED' }> {
  if (outcome.kind === 'NOT_ONLINE') throw conflict('Go online before sending locations.', { availability: outcome.availability });
  if (outcome.kind === 'RATE_LIMITED') {
    throw new AppError('RATE_LIMITED', `At most one live location every ${live.rules.rateLimitMs / 1000} seconds; send buffered points with updateLocations.`, {
      retryAfterMs: outcome.retryAfterMs,
    });
  }
  return outcome;
}

function afterIngest(live: LiveLocations, driver: DriverRef, fixes: readonly Fix[], verdicts: readonly Verdict[], spoofing: boolean, now: number) {
  const kept = fixes.filter((_, i) => keptInHistory(verdicts[i]));
  if (kept.length > 0) live.history.record(driver.id, kept, now);
  if (spoofing) live.history.flagSpoofing(driver.id, now);
}

export interface NearbyArgs {
  near: unknown;
  radiusM?: number | null;
  vehicleType?: string | null;
  first?: number | null;
}

/** Parses nearby arguments; explicit nulls mean the defaults, like omitted ones. */
export function nearbyQueryOf(args: NearbyArgs): NearbyQuery {
  return parseInput(nearbyArgsSchema, { near: args.near, radiusM: args.radiusM ?? 3000, vehicleType: args.vehicleType, first: args.first ?? 10 });
}

/** Fresh AVAILABLE drivers near a point, nearest first, from whichever live store runs. */
export async function findNearbyDrivers(live: LiveLocations, query: NearbyQuery): Promise<NearbyDriverHit[]> {
  const candidates = await live.store.nearby(query, live.now() - live.rules.freshnessMs);
  return rankNearby(query, candidates);
}

export interface NearbyDriverView {
  driver: Driver;
  location: { lat: number; lng: number };
  distanceM: number;
  lastSeenAt: Date;
}

/** nearbyDrivers: the hits with their profiles (one SQL statement); a hit without a profile is skipped. */
export async function nearbyDrivers(live: LiveLocations, loadDrivers: (ids: string[]) => Promise<Array<Driver | null | Error>>, query: NearbyQuery): Promise<NearbyDriverView[]> {
  const hits = await findNearbyDrivers(live, query);
  const drivers = await loadDrivers(hits.map((hit) => hit.driverId));
  const views: NearbyDriverView[] = [];
  hits.forEach((hit, i) => {
    const driver = drivers[i];
    if (driver && !(driver instanceof Error)) {
      views.push({ driver, location: { lat: hit.lat, lng: hit.lng }, distanceM: Math.round(hit.distanceM), lastSeenAt: new Date(hit.recordedAt) });
    }
  });
  return views;
}
