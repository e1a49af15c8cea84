/**
 * The Redis the tests' environment configures, whatever its kind: REDIS_URL (one server),
 * REDIS_CLUSTER_NODES (a cluster; CI runs the live-location, dispatch and fan-out tests on one) or
 * REDIS_SENTINELS. Tests that need Redis skip on REDIS_CONFIGURED and reach it through `testRedis`.
 */
import pino from 'pino';
import { loadConfig } from '../../platform/config.ts';
import { createRedis, isCluster, scanKeys, type Redis } from '../../platform/redis.ts';

export const REDIS_CONFIGURED = Boolean(process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES || process.env.REDIS_SENTINELS);

/** A client of the configured Redis (undefined: none); the caller closes it (disconnect). */
export function testRedis(name = 'tests'): Redis | undefined {
  return createRedis(loadConfig('accounts', process.env).redis, pino({ level: 'silent' }), name);
}

/** UNLINK of keys that may lie in several slots: one command on a single server, one per key on a cluster. */
export async function unlinkKeys(redis: Redis, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  if (isCluster(redis)) await Promise.all(keys.map((key) => redis.unlink(key)));
  else await redis.unlink(...keys);
}

/** Removes every key matching a SCAN pattern from the configured Redis (every master of a cluster). */
export async function deleteKeysMatching(pattern: string): Promise<void> {
  const redis = testRedis('tests-cleanup');
  if (!redis) return;
  try {
    for await (const keys of scanKeys(redis, pattern)) await unlinkKeys(redis, keys);
  } finally {
    redis.disconnect();
  }
}
