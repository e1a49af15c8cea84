/**
 * The cache of automatic persisted queries (APQ), as Apollo Server's `persistedQueries: { cache }` reads
 * it (its KeyValueCache interface: get, set with a TTL in seconds, delete). In Redis when the router has
 * one, so an app that registered a query's text on one replica is answered by hash on every other; in
 * the process otherwise (embedded mode).
 *
 * A small adapter over the router's ioredis client rather than @apollo/utils.keyvadapter + keyv +
 * @keyv/redis: three more packages (and a second Redis client with its own connection and options) for
 * three commands. Redis trouble is a cache miss, never an error: the app sends the text again (APQ's
 * own fallback), so APQ never takes the API down. Keys: `smartline:router:<namespace>:{apq:<hash>}`
 * (Apollo Server adds `apq:`), expiring after the TTL: registrations cannot fill Redis forever.
 */
import type { Logger } from '../platform/logger.ts';
import { hashTag, type Redis } from '../platform/redis.ts';
import { LRUCache } from 'lru-cache';

/** Apollo Server's KeyValueCache<string>, structurally (@apollo/utils.keyvaluecache exists in two versions here). */
export interface StringCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, options?: { ttl?: number | null }): Promise<void>;
  delete(key: string): Promise<boolean | void>;
}

/** How long a registered query is kept unless Apollo Server says otherwise (`persistedQueries.ttl`). */
export const DEFAULT_APQ_TTL_SECONDS = 24 * 3600;

export interface RedisStringCacheOptions {
  /**
   * Prepended to every key, e.g. `smartline:router:<namespace>:`; the key itself is hash-tagged
   * (`<prefix>{apq:<hash>}`), so on a Redis Cluster entries spread over the slots. No braces here.
   */
  prefix: string;
  defaultTtlSeconds?: number;
  /** A command slower than this is a miss (ioredis queues commands while it reconnects). */
  timeoutMs?: number;
  logger: Logger;
}

export function redisStringCache(redis: Redis, options: RedisStringCacheOptions): StringCache {
  const { logger } = options;
  const keyOf = (key: string) => options.prefix + hashTag(key);
  const defaultTtl = options.defaultTtlSeconds ?? DEFAULT_APQ_TTL_SECONDS;
  const timeoutMs = options.timeoutMs ?? 250;
  let warned = 0;
  const warn = (error: unknown, operation: string) => {
    // At most one warning a minute: Redis down must not flood the log at the request rate.
    if (Date.now() - warned < 60_000) return;
    warned = Date.now();
    logger.warn({ err: error, operation }, 'APQ cache: Redis failed; treating it as a miss');
  };
  const bounded = <T>(command: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
      command.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  return {
    async get(key) {
      try {
        return (await bounded(redis.get(keyOf(key)))) ?? undefined;
      } catch (error) {
        warn(error, 'get');
        return undefined;
      }
    },
    async set(key, value, setOptions) {
      const ttl = setOptions?.ttl === null ? undefined : (setOptions?.ttl ?? defaultTtl);
      try {
        if (ttl !== undefined && ttl > 0) await bounded(redis.set(keyOf(key), value, 'EX', Math.ceil(ttl)));
        else await bounded(redis.set(keyOf(key), value));
      } catch (error) {
        warn(error, 'set');
      }
    },
    async delete(key) {
      try {
        return (await bounded(redis.del(keyOf(key)))) > 0;
      } catch (error) {
        warn(error, 'delete');
        return false;
      }
    },
  };
}

/** In the process (no Redis): at most `maxEntries` (the least recently used go first), each for its TTL. */
export function memoryStringCache(options: { maxEntries?: number; defaultTtlSeconds?: number } = {}): StringCache {
  const maxEntries = options.maxEntries ?? 5_000;
  const defaultTtl = options.defaultTtlSeconds ?? DEFAULT_APQ_TTL_SECONDS;
  const entries = new LRUCache<string, { value: string; expiresAt: number }>({ max: maxEntries });
  return {
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    async set(key, value, setOptions) {
      const ttl = setOptions?.ttl === null ? Infinity : (setOptions?.ttl ?? defaultTtl);
      entries.set(key, { value, expiresAt: Date.now() + ttl * 1000 });
    },
    async delete(key) {
      return entries.delete(key);
    },
  };
}
