import { isCluster, type Redis } from '../../../platform/redis.ts';
import { AVAILABILITIES, type Availability, type DriverRef, type TransitionOptions, type TransitionResult } from '../availability.ts';
import { isIndexable, locationMessage, MAX_INDEXED_LATITUDE, type Fix, type LiveRules, type Verdict } from './fixes.ts';
import type { LatLng } from './geo.ts';
import { ALL_BUCKETS, type DriverKeys } from './keys.ts';
import { AVAILABLE_POSITIONS, END_COOLDOWNS, INGEST, NEARBY, READ_HASHES, RELEASE_DRIVERS, RESERVE_DRIVERS, SWEEP, TRANSITION } from './redis-scripts.ts';
import { OFFER_SET_TTL_MS, typesOf, UNKNOWN_DRIVER, type IngestOptions, type IngestOutcome, type LiveDriverState, type LiveStore, type NearbyCandidate, type NearbyQuery } from './store.ts';

type Reply = Array<string | number>;
type Script = (...args: Array<string | number>) => Promise<Reply>;
/** A script whose key count varies: the count, then the keys, then the arguments. */
type KeyedScript<T> = (numberOfKeys: number, ...keysThenArgs: Array<string | number>) => Promise<T>;

/** The scripts as ioredis commands (defineCommand adds them to the client; EVALSHA with EVAL fallback). */
interface ScriptedRedis {
  smartlineDriversIngest: Script;
  smartlineDriversIngestIndexed: Script;
  smartlineDriversTransition: Script;
  smartlineDriversSweep: Script;
  smartlineDriversReserve: KeyedScript<string[]>;
  smartlineDriversRelease: KeyedScript<number[]>;
  smartlineDriversReadHashes: KeyedScript<Array<Array<string | null>>>;
  smartlineDriversNearby: KeyedScript<string[]>;
  /** The same scripts with exactly one key, for a cluster: its auto-pipelining routes a command by its first key. */
  smartlineDriversReserveOne: (key: string, ...args: Array<string | number>) => Promise<string[]>;
  smartlineDriversReleaseOne: (key: string, ...args: Array<string | number>) => Promise<number[]>;
  smartlineDriversEndCooldowns: Script;
  smartlineDriversAvailablePositions: Script;
}

/** Drivers looked at per bucket script call (sweep, cooldowns, positions): each call holds Redis about a millisecond. */
const BUCKET_BATCH = 500;
/** Geohash cells approximate coordinates to well under a meter; search this much wider, then rank exactly. */
const GEO_MARGIN_M = 2;
/** nearby starts with a circle this small and doubles it while it holds too few drivers. */
const INITIAL_SEARCH_RADIUS_M = 400;
/** Members per ZREM when the sweep takes drivers out of a geo set. */
const ZREM_BATCH = 500;
const FIELDS = ['state', 'lat', 'lng', 'hd', 'spd', 'acc', 'at', 'spoof', 'trip'] as const;
const NEARBY_FIELDS = ['state', 'lat', 'lng', 'at', 'idle', 'since'] as const;

/**
 * The live store every replica shares: one Redis hash per driver in its bucket's slot, GEO sets per
 * vehicle type in their own slot, a Lua script for every write to a driver (keys.ts, redis-scripts.ts).
 *
 * The geo sets follow the drivers' hashes rather than being written in the same script: after a script
 * says a fix went live, a driver went OFFLINE or fell silent, the store sends GEOADD or ZREM, so for a
 * moment the geo set may lag the hash (or, when two replicas race, keep a position one update old, or a
 * member for a driver who went OFFLINE). That is safe: a geo set only proposes candidates. nearby reads
 * every candidate's hash and keeps only AVAILABLE drivers with a fresh fix, at the hash's position; a
 * driver's next live fix puts them back where they are; the sweeper takes silent drivers out; and nearby
 * removes members it finds whose driver is OFFLINE or gone (a master that lost a bucket).
 */
export class RedisLiveStore implements LiveStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #scripts: ScriptedRedis;
  readonly #keys: DriverKeys;
  readonly #rules: LiveRules;
  readonly #batch: number;
  readonly #cluster: boolean;

  /** `options.bucketBatch`: drivers per bucket script call (default BUCKET_BATCH; tests make it small to walk a bucket in several calls). */
  constructor(redis: Redis, keys: DriverKeys, rules: LiveRules, options: { bucketBatch?: number } = {}) {
    this.#redis = redis;
    this.#keys = keys;
    this.#rules = rules;
    this.#batch = options.bucketBatch ?? BUCKET_BATCH;
    if (!('smartlineDriversIngest' in redis)) {
      redis.defineCommand('smartlineDriversIngest', { numberOfKeys: 4, lua: INGEST });
      redis.defineCommand('smartlineDriversIngestIndexed', { numberOfKeys: 5, lua: INGEST });
      redis.defineCommand('smartlineDriversTransition', { numberOfKeys: 4, lua: TRANSITION });
      redis.defineCommand('smartlineDriversSweep', { numberOfKeys: 1, lua: SWEEP });
      redis.defineCommand('smartlineDriversReserve', { lua: RESERVE_DRIVERS });
      redis.defineCommand('smartlineDriversRelease', { lua: RELEASE_DRIVERS });
      redis.defineCommand('smartlineDriversReadHashes', { lua: READ_HASHES });
      redis.defineCommand('smartlineDriversNearby', { lua: NEARBY });
      redis.defineCommand('smartlineDriversReserveOne', { numberOfKeys: 1, lua: RESERVE_DRIVERS });
      redis.defineCommand('smartlineDriversReleaseOne', { numberOfKeys: 1, lua: RELEASE_DRIVERS });
      redis.defineCommand('smartlineDriversEndCooldowns', { numberOfKeys: 1, lua: END_COOLDOWNS });
      redis.defineCommand('smartlineDriversAvailablePositions', { numberOfKeys: 1, lua: AVAILABLE_POSITIONS });
    }
    this.#scripts = redis as unknown as ScriptedRedis;
    this.#cluster = isCluster(redis);
  }

  /**
   * The fields of many drivers' hashes. On one Redis or Sentinel one script reads them all (a script may
   * name keys of any slot there); on a cluster one HMGET per driver, auto-pipelined (one batch per node).
   */
  async #readHashes(driverIds: readonly string[], fields: readonly string[]): Promise<Array<Array<string | null>>> {
    if (driverIds.length === 0) return [];
    const keys = driverIds.map((id) => this.#keys.driver(id));
    if (!this.#cluster) return this.#scripts.smartlineDriversReadHashes(keys.length, ...keys, ...fields);
    return Promise.all(keys.map((key) => this.#redis.hmget(key, ...fields)));
  }

  async read(driverIds: readonly string[]): Promise<Map<string, LiveDriverState>> {
    const rows = await this.#readHashes(driverIds, FIELDS);
    return new Map(driverIds.map((id, i) => [id, stateOf(rows[i])]));
  }

  async availability(driverIds: readonly string[]): Promise<Map<string, Availability>> {
    const rows = await this.#readHashes(driverIds, ['state']);
    return new Map(driverIds.map((id, i) => [id, asAvailability(rows[i]![0])]));
  }

  async transition(driver: DriverRef, to: Availability, from: readonly Availability[], now: number, options: TransitionOptions = {}): Promise<TransitionResult> {
    const k = this.#keys;
    const bucket = k.bucketOf(driver.id);
    const [moved, previous] = await this.#scripts.smartlineDriversTransition(
      k.driver(driver.id), k.presence(driver.id), k.seen(bucket), k.cooldowns(bucket),
      driver.id, to, now, this.#rules.presenceTtlMs, driver.userId, driver.vehicleType,
      options.tripId ?? '', options.requireTrip ? '1' : '0', options.cooldownUntil ?? now, ...from,
    );
    if (Number(moved) === 1 && to === 'OFFLINE') await this.#redis.zrem(k.geo(driver.vehicleType), driver.id);
    return { moved: Number(moved) === 1, previous: asAvailability(String(previous)) };
  }

  /** One script (with the geo set on one Redis: one round trip); on a cluster the script in the driver's bucket, then GEOADD (two, the second auto-pipelined with other drivers'). */
  async ingest(driver: DriverRef, fixes: readonly Fix[], options: IngestOptions): Promise<IngestOutcome> {
    const k = this.#keys;
    const r = this.#rules;
    const geo = k.geo(driver.vehicleType);
    const keys = [k.driver(driver.id), k.presence(driver.id), k.rateLimit(driver.id), k.seen(k.bucketOf(driver.id))];
    const args: Array<string | number> = [
      driver.id, options.now, r.presenceTtlMs, options.rateLimited ? r.rateLimitMs : 0, r.maxAccuracyM, r.maxAgeMs, r.maxSpeedKmh,
      k.locationChannel(driver.id), fixes.length, driver.userId, driver.vehicleType, MAX_INDEXED_LATITUDE,
    ];
    for (const fix of fixes) {
      args.push(fix.lat, fix.lng, fix.heading ?? '', fix.speedKmh ?? '', fix.accuracyM ?? '', fix.recordedAt, JSON.stringify(locationMessage(driver.id, fix)));
    }
    // One Redis or Sentinel: the script updates the geo set too (one round trip). A cluster: the geo set is
    // in another slot, so it is written after the script, from the fix it judged live.
    const reply = this.#cluster ? await this.#scripts.smartlineDriversIngest(...keys, ...args) : await this.#scripts.smartlineDriversIngestIndexed(...keys, geo, ...args);
    if (reply[0] === 'OFFLINE') return { kind: 'NOT_ONLINE', availability: 'OFFLINE' };
    if (reply[0] === 'RATE_LIMITED') return { kind: 'RATE_LIMITED', retryAfterMs: Math.max(0, Number(reply[1])) };
    const verdicts = reply.slice(2) as Verdict[];
    const live = fixes[verdicts.indexOf('LIVE')];
    if (live && this.#cluster) {
      // GEO sets hold latitudes up to ±85.05° only (Web Mercator): a fix beyond stays in the hash, unsearchable.
      if (isIndexable(live)) await this.#redis.geoadd(geo, live.lng, live.lat, driver.id);
      else await this.#redis.zrem(geo, driver.id);
    }
    return { kind: 'JUDGED', spoofing: Number(reply[1]) === 1, verdicts };
  }

  /**
   * On one Redis or Sentinel: one script walks every vehicle type's geo set and reads the drivers' hashes
   * (redis-scripts.ts NEARBY): one round trip. On a cluster, where a script cannot read hashes of other
   * slots, every vehicle type at once: GEOSEARCH of its set, then HMGET of the drivers found (one batch
   * per node), two round trips, more when the first circle or COUNT was not enough (`#nearbyOf`). Both
   * walk by the same rules and answer the same (tests/subgraphs/drivers/nearby.test.ts, live-cluster.test.ts).
   * Measured on bench:dispatch: the walk from the store cost drivers' process twice the CPU per search.
   */
  async nearby(query: NearbyQuery, freshSince: number): Promise<NearbyCandidate[]> {
    const keys = typesOf(query).map((type) => this.#keys.geo(type));
    if (this.#cluster) return (await Promise.all(keys.map((key) => this.#nearbyOf(key, query, freshSince)))).flat();
    const { before, after, buckets, digits } = this.#keys.driverKeyTemplate;
    const reply = await this.#scripts.smartlineDriversNearby(
      keys.length, ...keys,
      before, after, buckets, digits, query.near.lng, query.near.lat, query.radiusM, query.first, freshSince, GEO_MARGIN_M, INITIAL_SEARCH_RADIUS_M,
    );
    const candidates: NearbyCandidate[] = [];
    for (let i = 0; i < reply.length; i += 5) {
      candidates.push({ driverId: reply[i]!, lat: Number(reply[i + 1]), lng: Number(reply[i + 2]), recordedAt: Number(reply[i + 3]), idleSince: Number(reply[i + 4]) });
    }
    return candidates;
  }

  /**
   * Walks a geo set nearest first, keeping AVAILABLE drivers with a fresh fix, until it has `first` of
   * them and has seen every member up to GEO_MARGIN_M beyond the last kept (geohash coordinates are
   * approximate to well under a meter; rankNearby ranks exactly, from the hashes' positions). GEOSEARCH
   * costs what the geohash boxes around the circle hold, so the search starts at INITIAL_SEARCH_RADIUS_M
   * and doubles up to the radius only while that is not enough: in a dense city the first, small circle
   * usually is. COUNT grows when a walk runs out before it is done. A hash read once is not read again
   * in the same search.
   */
  async #nearbyOf(key: string, query: NearbyQuery, freshSince: number): Promise<NearbyCandidate[]> {
    const { near, radiusM, first: want } = query;
    const hashes = new Map<string, Array<string | null>>();
    let searched = Math.min(radiusM, INITIAL_SEARCH_RADIUS_M);
    for (;;) {
      let count = want * 2 + 8;
      let kept: NearbyCandidate[];
      let cutoff: number | undefined;
      for (;;) {
        const found = (await this.#redis.geosearch(key, 'FROMLONLAT', near.lng, near.lat, 'BYRADIUS', searched + GEO_MARGIN_M, 'm', 'ASC', 'COUNT', count, 'WITHDIST')) as Array<[string, string]>;
        const unread = found.map(([id]) => id).filter((id) => !hashes.has(id));
        const rows = await this.#readHashes(unread, NEARBY_FIELDS);
        unread.forEach((id, i) => hashes.set(id, rows[i]!));
        await this.#forgetGone(key, unread, rows);
        let complete = found.length < count;
        kept = [];
        cutoff = undefined;
        for (const [id, distanceText] of found) {
          const distance = Number(distanceText);
          if (cutoff !== undefined && distance > cutoff) {
            complete = true;
            break;
          }
          const [state, lat, lng, at, idle, since] = hashes.get(id)!;
          if (state === 'AVAILABLE' && at !== null && Number(at) >= freshSince) {
            kept.push({ driverId: id, lat: Number(lat), lng: Number(lng), recordedAt: Number(at), idleSince: Number(idle ?? since ?? at) });
            if (kept.length === want) cutoff = distance + GEO_MARGIN_M;
          }
        }
        if (complete) break;
        count *= 4;
      }
      // Done when everything up to the cutoff was inside the circle searched, or the circle is the whole radius.
      if ((cutoff !== undefined && cutoff <= searched + GEO_MARGIN_M) || searched >= radiusM) return kept;
      searched = Math.min(radiusM, searched * 2);
    }
  }

  /**
   * Takes out of a geo set the members whose driver is OFFLINE or unknown: left behind when a replica's
   * GEOADD landed after another's ZREM, or when the master of the driver's bucket lost it. Rare (an extra
   * round trip then); harmless if it races a driver coming back online, whose next fix adds them again.
   */
  async #forgetGone(key: string, ids: readonly string[], rows: ReadonlyArray<Array<string | null>>) {
    const gone = ids.filter((_, i) => rows[i]![0] === null || rows[i]![0] === 'OFFLINE');
    if (gone.length > 0) await this.#redis.zrem(key, ...gone);
  }

  /**
   * Going down the ranking, AVAILABLE → OFFERED for the trip, until `atMost` are reserved or the ranking
   * is exhausted: never more than `atMost`, and a driver's move is a compare-and-set in Redis, so two
   * trips never get one driver. The drivers tried join the trip's offer set first (in the same round trip,
   * ahead of the script): a crash in between leaves only members that were never offered the trip, which
   * releases skip (they check the driver's trip).
   *
   * On one Redis or Sentinel the whole ranking is one script: one round trip. On a cluster (a script stays
   * in one slot) it is one script per driver: the first `atMost` at once, then only as many as are still
   * missing; two round trips when the first round is enough.
   */
  async reserve(tripId: string, driverIds: readonly string[], now: number, atMost = driverIds.length): Promise<string[]> {
    if (driverIds.length === 0 || atMost < 1) return [];
    const offers = this.#keys.offers(tripId);
    if (!this.#cluster) {
      const keys = driverIds.map((id) => this.#keys.driver(id));
      const [, , reserved] = await Promise.all([
        this.#redis.sadd(offers, ...driverIds),
        this.#redis.pexpire(offers, OFFER_SET_TTL_MS),
        this.#scripts.smartlineDriversReserve(keys.length, ...keys, tripId, now, atMost, ...driverIds),
      ]);
      return reserved;
    }
    const reserved: string[] = [];
    let next = 0;
    while (reserved.length < atMost && next < driverIds.length) {
      const round = driverIds.slice(next, next + atMost - reserved.length);
      next += round.length;
      await Promise.all([this.#redis.sadd(offers, ...round), this.#redis.pexpire(offers, OFFER_SET_TTL_MS)]);
      const won = await Promise.all(round.map((id) => this.#scripts.smartlineDriversReserveOne(this.#keys.driver(id), tripId, now, 1, id)));
      round.forEach((id, i) => {
        if (won[i]!.length === 1) reserved.push(id);
      });
    }
    return reserved;
  }

  async release(tripId: string, driverIds: readonly string[], now: number): Promise<string[]> {
    if (driverIds.length === 0) return [];
    const [released] = await Promise.all([this.#releaseEach(tripId, driverIds, now), this.#redis.srem(this.#keys.offers(tripId), ...driverIds)]);
    return released;
  }

  /**
   * Reads the offer set, releases its drivers (but `except`), then removes the members it read. In that
   * order: if releasing fails, the set is still there for the retry (a redelivered event); members a
   * concurrent reservation adds meanwhile stay.
   */
  async releaseTrip(tripId: string, except: string | null, now: number): Promise<string[]> {
    const offers = this.#keys.offers(tripId);
    const members = await this.#redis.smembers(offers);
    if (members.length === 0) return [];
    const released = await this.#releaseEach(tripId, members.filter((id) => id !== except), now);
    await this.#redis.srem(offers, ...members);
    return released;
  }

  /**
   * A compare-and-set per driver (OFFERED for this trip → AVAILABLE): one script for them all on one Redis
   * or Sentinel, one per driver (sent together) on a cluster. The ids released, in order.
   */
  async #releaseEach(tripId: string, driverIds: readonly string[], now: number): Promise<string[]> {
    if (driverIds.length === 0) return [];
    const keys = driverIds.map((id) => this.#keys.driver(id));
    const released = this.#cluster
      ? (await Promise.all(keys.map((key) => this.#scripts.smartlineDriversReleaseOne(key, tripId, now)))).flat()
      : await this.#scripts.smartlineDriversRelease(keys.length, ...keys, tripId, now);
    return driverIds.filter((_, i) => Number(released[i]) === 1);
  }

  async endCooldowns(now: number): Promise<string[]> {
    const ended: string[] = [];
    await this.#everyBucket(async (bucket) => {
      const [examined, ...ids] = await this.#scripts.smartlineDriversEndCooldowns(this.#keys.cooldowns(bucket), this.#keys.bucketPrefix(bucket), now, this.#batch);
      ended.push(...(ids as string[]));
      return Number(examined) === this.#batch;
    });
    return ended;
  }

  /**
   * Positions by bucket, a batch of the bucket's seen index per script call, from an offset: a bucket
   * holds a 256th of the online drivers, so one batch unless hundreds of thousands are online; past that,
   * a driver whose last-seen time changes between two batches may be counted twice or not at all, which
   * a supply count (of positions that move anyway) can take.
   */
  async availablePositions(freshSince: number): Promise<LatLng[]> {
    // Every fresh fix was ingested after its recordedAt minus the allowed clock skew.
    const seenSince = freshSince - this.#rules.futureSkewMs;
    const positions: LatLng[] = [];
    const offsets = new Map<number, number>();
    await this.#everyBucket(async (bucket) => {
      const offset = offsets.get(bucket) ?? 0;
      const [examined, ...coordinates] = await this.#scripts.smartlineDriversAvailablePositions(this.#keys.seen(bucket), this.#keys.bucketPrefix(bucket), seenSince, freshSince, offset, this.#batch);
      for (let i = 0; i < coordinates.length; i += 2) positions.push({ lat: Number(coordinates[i]), lng: Number(coordinates[i + 1]) });
      offsets.set(bucket, offset + this.#batch);
      return Number(examined) === this.#batch;
    });
    return positions;
  }

  /** Each bucket's sweep script, then ZREM of the silent drivers from their geo sets (a few commands, one round trip). */
  async sweep(now: number, offlineFrom: readonly Availability[]): Promise<string[]> {
    const swept: string[] = [];
    const unindexed = new Map<string, string[]>();
    await this.#everyBucket(async (bucket) => {
      const reply = await this.#scripts.smartlineDriversSweep(this.#keys.seen(bucket), this.#keys.bucketPrefix(bucket), now, this.#rules.presenceTtlMs, this.#batch, ...offlineFrom);
      const count = Number(reply[1]);
      swept.push(...(reply.slice(2, 2 + count) as string[]));
      for (let i = 2 + count; i < reply.length; i += 2) {
        const type = String(reply[i + 1]);
        const ids = unindexed.get(type) ?? [];
        ids.push(String(reply[i]));
        unindexed.set(type, ids);
      }
      return Number(reply[0]) === this.#batch;
    });
    const removals: Array<Promise<number>> = [];
    for (const [type, ids] of unindexed) {
      for (let from = 0; from < ids.length; from += ZREM_BATCH) removals.push(this.#redis.zrem(this.#keys.geo(type), ...ids.slice(from, from + ZREM_BATCH)));
    }
    await Promise.all(removals);
    return swept;
  }

  /**
   * Runs `batch` for every bucket at once (auto-pipelining sends the calls together, per node on a
   * cluster), then again for the buckets whose batch came back full, until none does. An empty bucket
   * costs one short script call per round, answered at once: cheaper than asking first which are empty.
   */
  async #everyBucket(batch: (bucket: number) => Promise<boolean>): Promise<void> {
    let buckets: readonly number[] = ALL_BUCKETS;
    while (buckets.length > 0) {
      const full = await Promise.all(buckets.map(batch));
      buckets = buckets.filter((_, i) => full[i]);
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
