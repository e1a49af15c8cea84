
/**
 * Every Redis key and pub/sub channel of the drivers subgraph starts with `smartline:drivers:{<ns>}:`,
 * the namespace being the deployment's (platform/redis.ts `redisNamespace`). The hash tag keeps the Lua
 * scripts (a driver's hash, the shared geo sets and the presence index at once) valid on a cluster; one
 * deployment's live index is then one shard's work: tens of thousands of updates per second, far above
 * what a city produces; sharding by region would put the region in the tag.
 */
export { redisNamespace } from '../../../platform/redis.ts';

export interface DriverKeys {
  /** Prefix of every key: the Lua scripts build per-driver keys from it. */
  readonly prefix: string;
  /** Hash: availability, vehicle type, user id, last fix, last seen, spoofing flag. */
  driver(driverId: string): string;
  /** String holding the presence deadline (ms), with a TTL of the same length. */
  presence(driverId: string): string;
  /** One live update per window: SET NX PX. */
  rateLimit(driverId: string): string;
  /** GEO set of drivers with a live fix, one per vehicle type. */
  geo(vehicleType: string): string;
  /** Sorted set of online drivers by last-seen time (ms): where the sweeper looks for the silent. */
  seen: string;
  /** Pub/sub channel of a driver's accepted fixes. */
  locationChannel(driverId: string): string;
  /** Set of the drivers a trip was offered to (reserveDriversForOffer), released together when the trip is matched or cancelled. */
  offers(tripId: string): string;
  /** Sorted set of COOLDOWN drivers by when their cooldown ends (ms). */
  cooldowns: string;
  /** SET NX PX lock: one replica publishes each supply snapshot. */
  supplyLock: string;
  /** Pub/sub channel told when a trip ends: riders following its driver stop receiving positions. */
  tripEndedChannel(tripId: string): string;
  /** Set once the live state is known to hold what Postgres says (live/rebuild.ts): its absence means Redis lost its data. */
  rebuilt: string;
}

export function driverKeys(namespace: string): DriverKeys {
  const prefix = `smartline:drivers:{${namespace}}:`;
  return {
    prefix,
    driver: (driverId) => `${prefix}d:${driverId}`,
    presence: (driverId) => `${prefix}p:${driverId}`,
    rateLimit: (driverId) => `${prefix}rl:${driverId}`,
    geo: (vehicleType) => `${prefix}geo:${vehicleType}`,
    seen: `${prefix}seen`,
    locationChannel: (driverId) => `${prefix}loc:${driverId}`,
    offers: (tripId) => `${prefix}offers:${tripId}`,
    cooldowns: `${prefix}cooldowns`,
    supplyLock: `${prefix}supply-lock`,
    tripEndedChannel: (tripId) => `${prefix}trip-ended:${tripId}`,
    rebuilt: `${prefix}rebuilt`,
  };
}
