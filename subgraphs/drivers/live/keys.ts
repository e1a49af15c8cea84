import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ServiceConfig } from '../../../platform/config.ts';

/**
 * Every Redis key and pub/sub channel of the drivers subgraph starts with `smartline:drivers:{<ns>}:`.
 *
 * The namespace is the name of the subgraph's Postgres database: every replica of one deployment shares
 * it (they must share live state), while every test stack, which gets a fresh database, gets its own,
 * so parallel stacks on one Redis never see each other's drivers. The database name, not the whole URL:
 * replicas may reach one database through different hosts (a pooler, a replica), and must still agree.
 * Embedded PGlite has no database name; its data directory stands in. `keyPrefix` overrides all of it.
 *
 * The braces are a Redis Cluster hash tag: all keys of a namespace live in one slot, so the Lua scripts
 * (which touch a driver's hash, the shared geo sets and the presence index at once) stay valid on a
 * cluster. One deployment's live index is then one shard's work: tens of thousands of updates per
 * second, far above what a city produces; sharding by region would put the region in the tag.
 */
export function redisNamespace(config: Pick<ServiceConfig, 'databaseUrl' | 'dataDir'>, keyPrefix?: string): string {
  const raw = keyPrefix ?? (config.databaseUrl ? decodeURIComponent(new URL(config.databaseUrl).pathname.replace(/^\//, '')) || 'postgres' : `pglite-${createHash('sha256').update(path.resolve(config.dataDir)).digest('hex').slice(0, 16)}`);
  return raw.replace(/[{}\s]/g, '_');
}

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
  };
}
