/**
 * µs per operation of the rate-limits edge feature's request stage (the budget every operation pays),
 * in the process (RateLimiterMemory) and on Redis (REDIS_URL): every operation a Redis call, and the
 * default (counted here, added to Redis every 2 % of the budget), against no feature at all.
 *
 *   npm run bench:edge-rate-limits [-- --ops 20000 --concurrency 1,64]
 *
 * Sequential (concurrency 1) is one operation's added latency; concurrent shows the throughput cost
 * when many operations are in flight (ioredis pipelines them). Users rotate over 1,000 ids, so no key
 * runs out of budget. The keys are written under a namespace of this run and deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../platform/config.ts';
import { rateLimitsFeature, type RateLimitsFeature } from '../router/edge/features/rate-limits.ts';
import type { EdgeConnection, EdgeRequest } from '../router/edge/types.ts';

const { values } = parseArgs({ options: { ops: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '1,64' } } });
const OPS = Number(values.ops);
const CONCURRENCY = values.concurrency.split(',').map(Number);
const USERS = 1_000;

const config = loadConfig('router', { ...process.env, RATE_LIMIT_USER_PER_MINUTE: String(10_000_000) });
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL, { enableAutoPipelining: true, maxRetriesPerRequest: 3 }) : undefined;
const logger = pino({ level: 'warn' });

const connections: EdgeConnection[] = Array.from({ length: USERS }, (_, i) => ({ transport: 'http', ip: `10.0.${i >> 8}.${i & 255}`, headers: {}, authorization: undefined, principal: { userId: `bench-user-${i}`, role: 'DRIVER' }, state: new Map() }));
const requestFor = (i: number): EdgeRequest => ({
  connection: connections[i % USERS],
  requestId: '',
  path: 'fast',
  query: 'mutation { updateLocation }',
  operationName: undefined,
  variables: {},
  document: undefined,
  operation: undefined,
  schema: undefined,
  responseHeaders: {},
  extensions: {},
  state: new Map(),
  startedAt: 0,
});

async function measure(stage: ((request: EdgeRequest) => Promise<void> | void) | undefined, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < OPS) {
        const request = requestFor(next++);
        if (stage) await stage(request);
        else await Promise.resolve();
      }
    }),
  );
  return ((performance.now() - started) * 1000) / OPS;
}

const variants: Array<{ name: string; feature: RateLimitsFeature | undefined }> = [
  { name: 'off', feature: undefined },
  { name: 'memory', feature: rateLimitsFeature({ redis: undefined, config, logger, namespace: `bench-${randomUUID()}` }) },
];
const redisNamespace = `bench-${randomUUID()}`;
if (redis) await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
if (redis) {
  const everyOperation = { ...config, rateLimits: { ...config.rateLimits, budgetSyncPercent: 0 } };
  variants.push({ name: 'redis, every operation', feature: rateLimitsFeature({ redis, config: everyOperation, logger, namespace: redisNamespace }) });
  // The default budget (600 a minute: a sync every 12 points); 4 × ops / users points per user stay well within it.
  const defaults = loadConfig('router', process.env);
  const synced = { ...config, rateLimits: { ...config.rateLimits, userPerMinute: defaults.rateLimits.userPerMinute } };
  const syncEvery = Math.floor((defaults.rateLimits.userPerMinute * defaults.rateLimits.budgetSyncPercent) / 100);
  variants.push({ name: `redis, synced every ${syncEvery}`, feature: rateLimitsFeature({ redis, config: synced, logger, namespace: `${redisNamespace}-synced` }) });
}
else console.log('REDIS_URL unset: Redis skipped');

console.log(`rate-limits request stage, ${OPS} operations per figure, ${USERS} users; µs per operation (wall time / operations)`);
for (const concurrency of CONCURRENCY) {
  for (const { name, feature } of variants) {
    const stage = feature ? (request: EdgeRequest) => feature.request(request) : undefined;
    await measure(stage, concurrency); // warm-up (JIT, Redis script load, keys created)
    const runs = [await measure(stage, concurrency), await measure(stage, concurrency), await measure(stage, concurrency)].sort((a, b) => a - b);
    const fellBack = feature && feature.fallbacks > 0 ? `   ${feature.fallbacks} operations counted in process (Redis failed)` : '';
    console.log(`  concurrency ${String(concurrency).padStart(3)}  ${name.padEnd(24)} median ${runs[1].toFixed(2).padStart(8)} µs   (min ${runs[0].toFixed(2)}, max ${runs[2].toFixed(2)})${fellBack}`);
  }
}

if (redis) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `smartline:router:${redisNamespace}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}
