import type { Redis } from '../../../platform/redis.ts';
import { AVAILABILITIES, type Availability, type DriverRef, type TransitionOptions, type TransitionResult } from '../availability.ts';
import { locationMessage, MAX_INDEXED_LATITUDE, type Fix, type LiveRules, type Verdict } from './fixes.ts';
import type { LatLng } from './geo.ts';
import type { DriverKeys } from './keys.ts';
import { AVAILABLE_POSITIONS, END_COOLDOWNS, INGEST, NEARBY, RELEASE, RESERVE, SWEEP, TRANSITION } from './redis-scripts.ts';
import { OFFER_SET_TTL_MS, typesOf, UNKNOWN_DRIVER, type IngestOptions, type IngestOutcome, type LiveDriverState, type LiveStore, type NearbyCandidate, type NearbyQuery } from './store.ts';

type Reply = Array<string | number>;
type Script = (...args: Array<string | number>) => Promise<Reply>;

/** The scripts as ioredis commands (defineCommand adds them to the client; EVALSHA with EVAL fallback). */
interface ScriptedRedis {
  smartlineDriversIngest: Script;
  smartlineDriversTransition: Script;
  smartlineDriversSweep: Script;
  smartlineDriversNearby: Script;
  smartlineDriversReserve: Script;
  smartlineDriversRelease: Script;
  smartlineDriversEndCooldowns: Script;
  smartlineDriversAvailablePositions: Script;
}

const SWEEP_BATCH = 500;
/** Geohash cells approximate coordinates to well under a meter; search this much wider, then rank exactly. */
const GEO_MARGIN_M = 2;
/** nearby starts with a circle this small and doubles it while it holds too few drivers (redis-scripts.ts). */
const INITIAL_SEARCH_RADIUS_M = 400;
/** Drivers looked at per availablePositions script call: each call holds Redis about a millisecond. */
const POSITIONS_BATCH = 500;
const FIELDS = ['state', 'lat', 'lng', 'hd', 'spd', 'acc', 'at', 'spoof', 'trip'] as const;

/** The live store every replica shares: one Redis hash per driver, GEO sets per vehicle type, Lua for every write. */
export class RedisLiveStore implements LiveStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #scripts: ScriptedRedis;
  readonly #keys: DriverKeys;
  readonly #rules: LiveRules;

  constructor(redis: Redis, keys: DriverKeys, rules: LiveRules) {
    this.#redis = redis;
    this.#keys = keys;
    this.#rules = rules;
    if (!('smartlineDriversIngest' in redis)) {
      redis.defineCommand('smartlineDriversIngest', { numberOfKeys: 5, lua: INGEST });
      redis.defineCommand('smartlineDriversTransition', { numberOfKeys: 5, lua: TRANSITION });
      redis.defineCommand('smartlineDriversSweep', { numberOfKeys: 1, lua: SWEEP });
      redis.defineCommand('smartlineDriversNearby', { lua: NEARBY });
      redis.defineCommand('smartlineDriversReserve', { numberOfKeys: 1, lua: RESERVE });
      redis.defineCommand('smartlineDriversRelease', { numberOfKeys: 1, lua: RELEASE });
      redis.defineCommand('smartlineDriversEndCooldowns', { numberOfKeys: 1, lua: END_COOLDOWNS });
      // KEYS[1] (the presence index, unused by the script) routes it to the namespace's node on a cluster.
      redis.defineCommand('smartlineDriversAvailablePositions', { numberOfKeys: 1, lua: AVAILABLE_POSITIONS });
    }
    this.#scripts = redis as unknown as ScriptedRedis;
  }

  async read(driverIds: readonly string[]): Promise<Map<string, LiveDriverState>> {
    // Auto-pipelining sends these together: one round trip.
    const rows = await Promise.all(driverIds.map((id) => this.#redis.hmget(this.#keys.driver(id), ...FIELDS)));
    return new Map(driverIds.map((id, i) => [id, stateOf(rows[i])]));
  }

  async availability(driverIds: readonly string[]): Promise<Map<string, Availability>> {
    const states = await Promise.all(driverIds.map((id) => this.#redis.hget(this.#keys.driver(id), 'state')));
    return new Map(driverIds.map((id, i) => [id, asAvailability(states[i])]));
  }

  async transition(driver: DriverRef, to: Availability, from: readonly Availability[], now: number, options: TransitionOptions = {}): Promise<TransitionResult> {
    const k = this.#keys;
    const [moved, previous] = await this.#scripts.smartlineDriversTransition(
      k.driver(driver.id), k.presence(driver.id), k.seen, k.geo(driver.vehicleType), k.cooldowns,
      driver.id, to, now, this.#rules.presenceTtlMs, driver.userId, driver.vehicleType,
      options.tripId ?? '', options.requireTrip ? '1' : '0', options.cooldownUntil ?? now, ...from,
    );
    return { moved: Number(moved) === 1, previous: asAvailability(String(previous)) };
  }

  async ingest(driver: DriverRef, fixes: readonly Fix[], options: IngestOptions): Promise<IngestOutcome> {
    const k = this.#keys;
    const r = this.#rules;
    const args: Array<string | number> = [
      k.driver(driver.id), k.presence(driver.id), k.rateLimit(driver.id), k.geo(driver.vehicleType), k.seen,
      driver.id, options.now, r.presenceTtlMs, options.rateLimited ? r.rateLimitMs : 0, r.maxAccuracyM, r.maxAgeMs, r.maxSpeedKmh,
      k.locationChannel(driver.id), MAX_INDEXED_LATITUDE, fixes.length, driver.userId, driver.vehicleType,
    ];
    for (const fix of fixes) {
      args.push(fix.lat, fix.lng, fix.heading ?? '', fix.speedKmh ?? '', fix.accuracyM ?? '', fix.recordedAt, JSON.stringify(locationMessage(driver.id, fix)));
    }
    const reply = await this.#scripts.smartlineDriversIngest(...args);
    if (reply[0] === 'OFFLINE') return { kind: 'NOT_ONLINE', availability: 'OFFLINE' };
    if (reply[0] === 'RATE_LIMITED') return { kind: 'RATE_LIMITED', retryAfterMs: Math.max(0, Number(reply[1])) };
    return { kind: 'JUDGED', spoofing: Number(reply[1]) === 1, verdicts: reply.slice(2) as Verdict[] };
  }

  async nearby(query: NearbyQuery, freshSince: number): Promise<NearbyCandidate[]> {
    const keys = typesOf(query).map((type) => this.#keys.geo(type));
    const reply = await (this.#redis as unknown as { smartlineDriversNearby(numberOfKeys: number, ...args: Array<string | number>): Promise<string[]> }).smartlineDriversNearby(
      keys.length, ...keys,
      this.#keys.prefix, query.near.lng, query.near.lat, query.radiusM, query.first, freshSince, GEO_MARGIN_M, INITIAL_SEARCH_RADIUS_M,
    );
    const candidates: NearbyCandidate[] = [];
    for (let i = 0; i < reply.length; i += 5) {
      candidates.push({ driverId: reply[i], lat: Number(reply[i + 1]), lng: Number(reply[i + 2]), recordedAt: Number(reply[i + 3]), idleSince: Number(reply[i + 4]) });
    }
    return candidates;
  }

  async reserve(tripId: string, driverIds: readonly string[], now: number, atMost = driverIds.length): Promise<string[]> {
    if (driverIds.length === 0 || atMost < 1) return [];
    return (await this.#scripts.smartlineDriversReserve(this.#keys.offers(tripId), this.#keys.prefix, tripId, now, OFFER_SET_TTL_MS, atMost, ...driverIds)) as string[];
  }

  async release(tripId: string, driverIds: readonly string[], now: number): Promise<string[]> {
    if (driverIds.length === 0) return [];
    return (await this.#scripts.smartlineDriversRelease(this.#keys.offers(tripId), this.#keys.prefix, tripId, now, '', '0', ...driverIds)) as string[];
  }

  async releaseTrip(tripId: string, except: string | null, now: number): Promise<string[]> {
    return (await this.#scripts.smartlineDriversRelease(this.#keys.offers(tripId), this.#keys.prefix, tripId, now, except ?? '', '1')) as string[];
  }

  async endCooldowns(now: number): Promise<string[]> {
    const ended: string[] = [];
    for (;;) {
      const [examined, ...ids] = await this.#scripts.smartlineDriversEndCooldowns(this.#keys.cooldowns, this.#keys.prefix, now, SWEEP_BATCH);
      ended.push(...(ids as string[]));
      if (Number(examined) < SWEEP_BATCH) return ended;
    }
  }

  async availablePositions(freshSince: number): Promise<LatLng[]> {
    // Every fresh fix was ingested after its recordedAt minus the allowed clock skew.
    const seen = await this.#redis.zrangebyscore(this.#keys.seen, freshSince - this.#rules.futureSkewMs, '+inf');
    const positions: LatLng[] = [];
    for (let from = 0; from < seen.length; from += POSITIONS_BATCH) {
      const reply = await this.#scripts.smartlineDriversAvailablePositions(this.#keys.seen, this.#keys.prefix, freshSince, ...seen.slice(from, from + POSITIONS_BATCH));
      for (let i = 0; i < reply.length; i += 2) positions.push({ lat: Number(reply[i]), lng: Number(reply[i + 1]) });
    }
    return positions;
  }

  async sweep(now: number, offlineFrom: readonly Availability[]): Promise<string[]> {
    const swept: string[] = [];
    for (;;) {
      const [examined, ...ids] = await this.#scripts.smartlineDriversSweep(this.#keys.seen, this.#keys.prefix, now, this.#rules.presenceTtlMs, SWEEP_BATCH, ...offlineFrom);
      swept.push(...(ids as string[]));
      if (Number(examined) < SWEEP_BATCH) return swept;
    }
  }
}

function asAvailability(value: string | null | undefined): Availability {
  return value && (AVAILABILITIES as readonly string[]).includes(value) ? (value as Availability) : 'OFFLINE';
}

const numberOrNull = (value: string | null) => (value === null || value === '' ? null : Number(value));

function stateOf(row: Array<string | null>): LiveDriverState {
  const [state, lat, lng, heading, speed, accuracy, at, spoof, trip] = row;
  if (state === null) return UNKNOWN_DRIVER;
  const fix: Fix | null =
    lat !== null && lng !== null && at !== null
      ? { lat: Number(lat), lng: Number(lng), heading: numberOrNull(heading), speedKmh: numberOrNull(speed), accuracyM: numberOrNull(accuracy), recordedAt: Number(at) }
      : null;
  return { availability: asAvailability(state), fix, spoofingSince: numberOrNull(spoof), tripId: trip || null };
}
