import { Redis } from 'ioredis';
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
