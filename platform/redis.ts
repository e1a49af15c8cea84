import { createHash } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { ServiceConfig } from './config.ts';
import type { Logger } from './logger.ts';

export type { Redis };

/**
 * One ioredis client for a process (its owner closes it on shutdown). Absent URL means embedded mode:
 * callers fall back to their in-process store implementation.
 */
export function createRedis(url: string | undefined, logger: Logger, name: string): Redis | undefined {
  if (!url) return undefined;
  const client = new Redis(url, { connectionName: `smartline-${name}`, maxRetriesPerRequest: 3, enableAutoPipelining: true });
  client.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  return client;
}

export async function closeRedis(client: Redis | undefined) {
  if (!client) return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/**
 * The namespace of a deployment in Redis, inside every SmartLine key: `smartline:<owner>:{<ns>}:...`
 * (drivers' live index, pricing's quotes, event streams).
 *
 * It is the name of the Postgres database: every replica of one deployment shares it (they must share
 * state), while every test stack, which gets a fresh database, gets its own, so parallel stacks on one
 * Redis never see each other's keys. The database name, not the whole URL: replicas may reach one
 * database through different hosts (a pooler, a replica), and must still agree. Embedded PGlite has no
 * database name; a digest of its data directory stands in. `keyPrefix` overrides all of it.
 *
 * The braces are a Redis Cluster hash tag: all keys of a namespace live in one slot, so Lua scripts
 * touching several of them stay valid on a cluster.
 */
export function redisNamespace(config: Pick<ServiceConfig, 'databaseUrl' | 'dataDir'>, keyPrefix?: string): string {
  const raw =
    keyPrefix ??
    (config.databaseUrl
      ? decodeURIComponent(new URL(config.databaseUrl).pathname.replace(/^\//, '')) || 'postgres'
      : `pglite-${createHash('sha256').update(path.resolve(config.dataDir)).digest('hex').slice(0, 16)}`);
  return raw.replace(/[{}\s]/g, '_');
}
