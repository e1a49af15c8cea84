/**
 * The Redis keys and pub/sub channels of the drivers' live state, hash-tagged by entity so a Redis Cluster
 * spreads them over its masters while every multi-key script still touches one slot:
 *
 *   smartline:drivers:{drv:<ns>:<bb>}:d:<driverId>    a driver's hash (state, trip, last fix, ...)
 *   smartline:drivers:{drv:<ns>:<bb>}:p:<driverId>    presence deadline, with a TTL
 *   smartline:drivers:{drv:<ns>:<bb>}:rl:<driverId>   rate-limit window (SET NX PX)
 *   smartline:drivers:{drv:<ns>:<bb>}:seen            online drivers of the bucket by last-seen time
 *   smartline:drivers:{drv:<ns>:<bb>}:cooldowns       COOLDOWN drivers of the bucket by when it ends
 *   smartline:drivers:{drv:<ns>:<bb>}:rebuilt         the bucket's rebuild marker (live/rebuild.ts)
 *   smartline:drivers:{geo:<ns>:<vehicleType>}:drivers GEO set of a vehicle type's drivers with a live fix
 *   smartline:drivers:{trip:<ns>:<tripId>}:offers     drivers a trip may have been offered to
 *   smartline:drivers:{supply:<ns>}:lock              one replica publishes each supply snapshot
 *   channels: smartline:drivers:{drv:<ns>:<bb>}:loc:<driverId> (a driver's fixes),
 *             smartline:drivers:{trip:<ns>:<tripId>}:ended (a trip ended)
 *
 * A driver belongs to one of DRIVER_BUCKETS buckets (`driverBucket`: a stable hash of the id; `<bb>` is
 * the bucket in two hex digits). Everything a driver's own scripts touch (ingest, transition, the
 * per-driver reserve/release compare-and-set) shares the bucket's tag, so each of those scripts runs in
 * one slot, and 256 buckets spread over any cluster's masters. The seen and cooldown indexes are per
 * bucket, not global, for the same reason: a driver's script updates them in its own slot; the sweeper
 * and the cooldown timer run one script per bucket, all sent together.
 *
 * The geo sets are tagged by vehicle type: a search must see every driver of a type near a point at once,
 * so a type's set is one slot, and the four types' sets (and their GEOADDs, the busiest writes) spread
 * over up to four masters. The next step is to tag them by city cell too (`{geo:<ns>:<type>:<coarse H3
 * cell>}`, a search covering the cells its circle touches). On a cluster no script touches a geo
 * set and a driver together: the store sends GEOADD/ZREM after a driver's script says what changed, and
 * nearby reads candidates' hashes after GEOSEARCH (redis-store.ts says why a lagging geo set is safe).
 *
 * The namespace (platform/redis.ts `redisNamespace`) is in every tag: deployments sharing a cluster spread
 * apart. `:` separates a tag's parts, so the namespace's own `:` (and `%`, braces) are percent-encoded here: one
 * namespace's SCAN patterns (`patterns`) then never match another's keys ("a" and "a:b" included).
 *
 * Channels are not keys (pub/sub ignores slots), but each carries its entity's tag: on a cluster a
 * channel's messages go through the master of its name's slot (platform/pubsub.ts), and a driver's fixes
 * are published from the ingest script, which runs on its bucket's master: one node either way, so one
 * channel's messages stay in order.
 */
import { hashTag } from '../../../platform/redis.ts';

export { redisNamespace } from '../../../platform/redis.ts';

/**
 * How many buckets drivers are spread over. Changing it moves every driver to another bucket: like a
 * Redis loss for the live state (rebuilt from Postgres; AVAILABLE drivers go online again).
 */
export const DRIVER_BUCKETS = 256;

/** Hex digits of a bucket in its tag, fixed width so a SCAN pattern names every bucket exactly. */
const BUCKET_DIGITS = (DRIVER_BUCKETS - 1).toString(16).length;

/**
 * A driver's bucket, 0 to DRIVER_BUCKETS - 1: FNV-1a (32 bits) over the id's UTF-8 bytes, finished with
 * murmur3's fmix32 (FNV-1a's low bits alone depend only on the bytes' low bits), modulo DRIVER_BUCKETS.
 * Pure and stable: every replica and every release must agree on it (tests/unit/driver-keys.test.ts).
 */
export function driverBucket(driverId: string): number {
  let hash = 0x811c9dc5;
  // Called for every key of every location update: ASCII ids (uuids) are hashed by char code, which is
  // their UTF-8 byte, without a Buffer per call.
  if (/^[\x00-\x7f]*$/.test(driverId)) for (let i = 0; i < driverId.length; i++) hash = Math.imul(hash ^ driverId.charCodeAt(i), 0x01000193);
  else for (const byte of Buffer.from(driverId, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) % DRIVER_BUCKETS;
}

/** Every bucket, 0 to DRIVER_BUCKETS - 1. */
export const ALL_BUCKETS: readonly number[] = Object.freeze(Array.from({ length: DRIVER_BUCKETS }, (_, bucket) => bucket));

export interface DriverKeys {
  /** The driver's bucket (`driverBucket`). */
  bucketOf(driverId: string): number;
  /** Prefix of every key of a bucket: scripts over a bucket (sweep, cooldowns, positions) build its drivers' keys from it. */
  bucketPrefix(bucket: number): string;
  /** Hash: availability, vehicle type, user id, last fix, last seen, spoofing flag. */
  driver(driverId: string): string;
  /** String holding the presence deadline (ms), with a TTL of the same length. */
  presence(driverId: string): string;
  /** One live update per window: SET NX PX. */
  rateLimit(driverId: string): string;
  /** Sorted set of a bucket's online drivers by last-seen time (ms): where the sweeper looks for the silent. */
  seen(bucket: number): string;
  /** Sorted set of a bucket's COOLDOWN drivers by when their cooldown ends (ms). */
  cooldowns(bucket: number): string;
  /** Set once the bucket's live state is known to hold what Postgres says (live/rebuild.ts): its absence means its master lost its data. */
  rebuilt(bucket: number): string;
  /** GEO set of drivers with a live fix, one per vehicle type. */
  geo(vehicleType: string): string;
  /**
   * Set of the drivers a trip may have been offered to (reserveDriversForOffer adds them before trying
   * to reserve them), released together when the trip is matched or ends.
   */
  offers(tripId: string): string;
  /** SET NX PX lock: one replica publishes each supply snapshot. */
  readonly supplyLock: string;
  /** Pub/sub channel of a driver's accepted fixes. */
  locationChannel(driverId: string): string;
  /** Pub/sub channel told when a trip ends: riders following its driver stop receiving positions. */
  tripEndedChannel(tripId: string): string;
  /** SCAN patterns that together match every key of this namespace, and no key of another namespace. */
  readonly patterns: readonly string[];
  /**
   * How a script builds a driver's hash key from the id alone (redis-scripts.ts DRIVER_KEY): `before`, the
   * bucket in `digits` lowercase hex digits (`driverBucket`, of `buckets`), `after`, the id.
   */
  readonly driverKeyTemplate: { readonly before: string; readonly after: string; readonly buckets: number; readonly digits: number };
}

/** The namespace as it appears inside tags: `%`, `:` (it separates a tag's parts) and braces (they end a tag) percent-encoded. */
const encodeNamespace = (namespace: string) => namespace.replace(/[%:{}]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);

/** A literal for a SCAN pattern: glob characters escaped. */
const globLiteral = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

export function driverKeys(namespace: string): DriverKeys {
  const ns = encodeNamespace(namespace);
  const root = 'smartline:drivers:';
  // The one construction of a bucket's tag: the scripts that find a driver's hash from its id (driverKeyTemplate) use the same parts.
  const template = { before: `${root}{drv:${ns}:`, after: '}:d:', buckets: DRIVER_BUCKETS, digits: BUCKET_DIGITS };
  const bucketPrefixes = ALL_BUCKETS.map((bucket) => `${template.before}${bucket.toString(16).padStart(BUCKET_DIGITS, '0')}}:`);
  const ofDriver = (driverId: string) => bucketPrefixes[driverBucket(driverId)]!;
  const tripPrefix = (tripId: string) => `${root}${hashTag(`trip:${ns}:${tripId}`)}:`;
  const literal = globLiteral(ns);
  return {
    bucketOf: driverBucket,
    bucketPrefix: (bucket) => bucketPrefixes[bucket]!,
    driver: (driverId) => `${ofDriver(driverId)}d:${driverId}`,
    presence: (driverId) => `${ofDriver(driverId)}p:${driverId}`,
    rateLimit: (driverId) => `${ofDriver(driverId)}rl:${driverId}`,
    seen: (bucket) => `${bucketPrefixes[bucket]!}seen`,
    cooldowns: (bucket) => `${bucketPrefixes[bucket]!}cooldowns`,
    rebuilt: (bucket) => `${bucketPrefixes[bucket]!}rebuilt`,
    geo: (vehicleType) => `${root}${hashTag(`geo:${ns}:${vehicleType}`)}:drivers`,
    offers: (tripId) => `${tripPrefix(tripId)}offers`,
    supplyLock: `${root}${hashTag(`supply:${ns}`)}:lock`,
    locationChannel: (driverId) => `${ofDriver(driverId)}loc:${driverId}`,
    tripEndedChannel: (tripId) => `${tripPrefix(tripId)}ended`,
    // A bucket is exactly BUCKET_DIGITS hex digits, and an encoded namespace has no ':', so no pattern can
    // reach into another namespace's tag. (Channels are not keys: nothing to delete.)
    driverKeyTemplate: template,
    patterns: [
      `${root}{drv:${literal}:${'[0-9a-f]'.repeat(BUCKET_DIGITS)}}:*`,
      `${root}{geo:${literal}:*}:*`,
      `${root}{trip:${literal}:*}:*`,
      `${root}{supply:${literal}}:*`,
    ],
  };
}
