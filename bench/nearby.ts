/**
 * nearbyDrivers benchmark at the drivers subgraph: 100,000 online drivers over a city (~30 km square),
 * answered by the Redis live index (GEOSEARCH in one Lua script) and, as the baseline, by the embedded
 * live index (Postgres `driver_positions` searched by H3 cell ranges), each checked against brute force.
 *
 *   npm run bench:nearby -- [--drivers 100000] [--size-km 30] [--radius 3000] [--first 10] [--duration 10] [--warmup 2] [--concurrency 1,4]
 *
 * DATABASE_URL / REDIS_URL default to the local 127.0.0.1 servers; a fresh database is created and
 * dropped, the run's Redis keys deleted. The load generator is a child process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { startSubgraph, type RunningSubgraph } from '../platform/subgraph.ts';
import { SUBGRAPHS } from '../subgraphs/index.ts';
import { createDriversSubgraph, liveLocationsOf } from '../subgraphs/drivers/index.ts';
import { transitionDriver } from '../subgraphs/drivers/availability.ts';
import { VEHICLE_TYPES } from '../subgraphs/drivers/entities.ts';
import { cellOf } from '../subgraphs/drivers/live/geo.ts';
import { redisNamespace } from '../subgraphs/drivers/live/keys.ts';
import {
  createBenchDatabase,
  deleteRedisNamespace,
  formatResult,
  inBatches,
  localServers,
  loadInChild,
  mintTokens,
  seedDriverRows,
  runBenchmark,
  type LoadResult,
  type SeededDriver,
  type Workload,
} from './support.ts';

type Query = Extract<Workload, { kind: 'nearbyDrivers' }>['queries'][number];

const NEARBY = `query($near: LatLngInput!, $radiusM: Int, $vehicleType: VehicleType, $first: Int) {
  nearbyDrivers(near: $near, radiusM: $radiusM, vehicleType: $vehicleType, first: $first) { distanceM driver { id } }
}`;

/** The reference answer: every seeded driver, textbook haversine (Redis's earth radius), full sort. */
function bruteForce(drivers: readonly SeededDriver[], query: Query) {
  const R = 6372797.560856;
  const rad = Math.PI / 180;
  return drivers
    .filter((driver) => !query.vehicleType || driver.vehicleType === query.vehicleType)
    .map((driver) => {
      const h = Math.sin(((driver.lat - query.near.lat) * rad) / 2) ** 2 + Math.cos(query.near.lat * rad) * Math.cos(driver.lat * rad) * Math.sin(((driver.lng - query.near.lng) * rad) / 2) ** 2;
      return { id: driver.id, distanceM: 2 * R * Math.asin(Math.sqrt(h)) };
    })
    .filter((hit) => hit.distanceM <= query.radiusM)
    .sort((a, b) => a.distanceM - b.distanceM || (a.id < b.id ? -1 : 1))
    .slice(0, query.first)
    .map((hit) => [hit.id, Math.round(hit.distanceM)]);
}

async function spotCheck(url: string, token: string, drivers: readonly SeededDriver[], queries: readonly Query[]): Promise<string> {
  let mismatches = 0;
  let hits = 0;
  for (const query of queries) {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: NEARBY, variables: query }) });
    const body = (await response.json()) as { data?: { nearbyDrivers: Array<{ distanceM: number; driver: { id: string } }> }; errors?: unknown };
    if (!body.data) throw new Error(`nearbyDrivers failed: ${JSON.stringify(body.errors)}`);
    const actual = body.data.nearbyDrivers.map((hit) => [hit.driver.id, hit.distanceM]);
    hits += actual.length;
    if (JSON.stringify(actual) !== JSON.stringify(bruteForce(drivers, query))) mismatches += 1;
  }
  return `${queries.length - mismatches}/${queries.length} queries identical to brute force (${hits} drivers returned)`;
}

async function main() {
  const { values } = parseArgs({
    options: {
      drivers: { type: 'string', default: '100000' },
      'size-km': { type: 'string', default: '30' },
      radius: { type: 'string', default: '3000' },
      first: { type: 'string', default: '10' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      /** Requests in flight, one run per level: the target is judged at the first (latency of one query at the subgraph). */
      concurrency: { type: 'string', default: '1,4' },
    },
  });
  const count = Number(values.drivers);
  const sizeKm = Number(values['size-km']);
  const durationMs = Number(values.duration) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const levels = values.concurrency.split(',').map(Number);
  const concurrency = levels[0]!;
  const { adminUrl, redisUrl } = localServers();
  console.log(`bench:nearby — ${count} online drivers over ${sizeKm}×${sizeKm} km, radius ${values.radius} m, first ${values.first}, ${levels.join(' and ')} in flight for ${durationMs / 1000} s per index, ${os.cpus().length} CPUs`);

  const database = await createBenchDatabase(adminUrl, 'nearby');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'smartline-bench-'));
  const env: Record<string, string> = { NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: database.url, REDIS_URL: redisUrl, DATA_DIR: dataDir, DATABASE_POOL_MAX: '10' };
  const running: RunningSubgraph[] = [];
  try {
    const logger = createLogger(loadConfig('router', env));
    const accounts = await startSubgraph(SUBGRAPHS.accounts, loadConfig('accounts', env), { logger });
    running.push(accounts);
    env.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
    // The same subgraph twice on one database: with Redis, and without it (embedded live index on Postgres).
    const withRedis = await startSubgraph(createDriversSubgraph({ sweepIntervalMs: 0 }), loadConfig('drivers', env), { logger });
    running.push(withRedis);
    const { REDIS_URL: _redis, ...withoutRedisEnv } = env;
    const withPostgres = await startSubgraph(createDriversSubgraph({ sweepIntervalMs: 0 }), loadConfig('drivers', withoutRedisEnv), { logger });
    running.push(withPostgres);

    const [riderToken] = await mintTokens(env, [{ userId: randomUUID(), role: 'RIDER' }]);
    let started = performance.now();
    const drivers = await seedDriverRows(database.url, count, sizeKm);
    console.log(`seeded ${count} driver profiles in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const center = { lat: 30.0444, lng: 31.2357 };
    const queries: Query[] = Array.from({ length: 5000 }, (_, i) => ({
      near: { lat: center.lat + ((Math.random() - 0.5) * sizeKm) / 111.2, lng: center.lng + ((Math.random() - 0.5) * sizeKm) / 96.3 },
      radiusM: Number(values.radius),
      vehicleType: i % 2 === 0 ? null : VEHICLE_TYPES[i % VEHICLE_TYPES.length],
      first: Number(values.first),
    }));
    const script = fileURLToPath(import.meta.url);
    const workload: Workload = { kind: 'nearbyDrivers', token: riderToken, queries };

    // Redis: every driver goes online and reports through the live store's own functions (Lua scripts).
    started = performance.now();
    const redisStore = liveLocationsOf(withRedis.runtime).store;
    await inBatches(drivers, 1000, async (driver) => {
      const now = Date.now();
      await transitionDriver(redisStore, driver, 'AVAILABLE', now);
      await redisStore.ingest(driver, [{ lat: driver.lat, lng: driver.lng, heading: null, speedKmh: null, accuracyM: 5, recordedAt: now }], { rateLimited: false, now });
    });
    console.log(`Redis live index: ${count} drivers online and located in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const redisCheck = await spotCheck(withRedis.url, riderToken, drivers, queries.slice(0, 50));
    const redisResult = await loadInChild(script, { url: withRedis.url, warmupMs, durationMs, concurrency, workload });
    const redisUnderLoad: Array<[number, LoadResult]> = [];
    for (const level of levels.slice(1)) redisUnderLoad.push([level, await loadInChild(script, { url: withRedis.url, warmupMs, durationMs, concurrency: level, workload })]);

    // Postgres: the embedded index's table, bulk-loaded with the same positions (and their res-9 H3 cells).
    started = performance.now();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const now = new Date();
    for (let offset = 0; offset < drivers.length; offset += 5000) {
      const chunk = drivers.slice(offset, offset + 5000);
      const values = chunk.map((_, i) => `($${i * 5 + 1}, $${i * 5 + 2}, 'AVAILABLE', $${i * 5 + 3}, $${i * 5 + 4}, $${i * 5 + 5}, $${chunk.length * 5 + 1}, $${chunk.length * 5 + 1})`).join(', ');
      const params = [...chunk.flatMap((driver) => [driver.id, driver.vehicleType, driver.lat, driver.lng, cellOf(driver).toString()]), now];
      await client.query(`insert into drivers.driver_positions (driver_id, vehicle_type, availability, lat, lng, h3_cell, recorded_at, updated_at) values ${values}`, params);
    }
    await client.query('analyze drivers.driver_positions');
    await client.end();
    console.log(`Postgres live index: ${count} positions loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const postgresCheck = await spotCheck(withPostgres.url, riderToken, drivers, queries.slice(0, 50));
    const postgresResult = await loadInChild(script, { url: withPostgres.url, warmupMs, durationMs, concurrency, workload });

    console.log('\nnearbyDrivers at the drivers subgraph (HTTP, token verification, GraphQL, live index, one SQL for the profiles)');
    console.log(formatResult(`Redis GEOSEARCH, ${concurrency} in flight`, redisResult));
    for (const [level, result] of redisUnderLoad) console.log(formatResult(`Redis GEOSEARCH, ${level} in flight`, result));
    console.log(formatResult(`Postgres H3 cells (baseline), ${concurrency} in flight`, postgresResult));
    console.log(`correctness spot check — Redis: ${redisCheck}; Postgres/H3: ${postgresCheck}`);
    console.log(`target p95 < 10 ms at the subgraph (Redis path, ${concurrency} in flight): ${redisResult.latencyMs.p95 < 10 ? 'met' : 'NOT met'}`);
  } finally {
    for (const subgraph of running.reverse()) await subgraph.stop().catch(() => undefined);
    await deleteRedisNamespace(redisUrl, redisNamespace({ databaseUrl: database.url, dataDir }));
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runBenchmark(import.meta.url, main);
