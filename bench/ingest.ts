/**
 * Location ingest benchmark: updateLocation through the router (with its passthrough fast path), through
 * the same router with the fast path off (plain @apollo/gateway behind Apollo Server: the baseline a
 * Node federation gateway gives), and straight at the drivers subgraph, against real Postgres and Redis,
 * every service its own process.
 *
 *   npm run bench:ingest -- [--drivers 10000] [--rate 3500] [--duration 30] [--warmup SECONDS] [--concurrency 256] [--profile-dir DIR]
 *
 * DATABASE_URL / REDIS_URL default to the local 127.0.0.1 servers. A fresh database is created and
 * dropped, and the run's Redis keys deleted, so nothing is left behind. The load generator runs in a
 * child process (bench/support.ts); this file is also that child (`--load-generator`).
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startServiceProcess } from '../tests/support/processes.ts';
import { transitionDriver } from '../subgraphs/drivers/availability.ts';
import { DEFAULT_RULES } from '../subgraphs/drivers/live/fixes.ts';
import { driverKeys } from '../subgraphs/drivers/live/keys.ts';
import { RedisLiveStore } from '../subgraphs/drivers/live/redis-store.ts';
import {
  cpuByComponent,
  cpuPerRequest,
  cpuPerRequestLine,
  edgeCostLine,
  formatResult,
  inBatches,
  loadInChild,
  mintTokens,
  seedDriverRows,
  runBenchmark,
  startBenchRun,
  type LoadResult,
  type Workload,
} from './support.ts';

async function main() {
  const { values } = parseArgs({
    options: {
      drivers: { type: 'string', default: '10000' },
      rate: { type: 'string', default: '3500' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string' },
      concurrency: { type: 'string', default: '256' },
      /** Writes a CPU profile of every service process here (open them in Chrome DevTools). */
      'profile-dir': { type: 'string' },
    },
  });
  const driverCount = Number(values.drivers);
  const rate = Number(values.rate);
  const durationMs = Number(values.duration) * 1000;
  // By default the warm-up lasts until every driver has sent a first fix: each process verifies a token
  // and looks a driver up once, then serves that driver from memory; the measurement is the steady state.
  // Every phase first sends one fix per driver (unmeasured: each process verifies a token and looks a
  // driver up once, then serves them from memory), then warms up at the target rate.
  const warmupMs = (values.warmup !== undefined ? Number(values.warmup) : 3) * 1000;
  const concurrency = Number(values.concurrency);
  if (driverCount / rate < DEFAULT_RULES.rateLimitMs / 1000) {
    console.warn(`note: ${driverCount} drivers at ${rate}/s send more than one fix per driver per ${DEFAULT_RULES.rateLimitMs / 1000} s: expect RATE_LIMITED`);
  }

  console.log(`bench:ingest — ${driverCount} drivers, ${rate} updateLocation/s for ${durationMs / 1000} s (after ${warmupMs / 1000} s warm-up), ≤ ${concurrency} connections, ${os.cpus().length} CPUs`);
  const run = await startBenchRun('ingest', { profileDir: values['profile-dir'] });
  const { database, env, namespace, redisUrl, services } = run;
  try {
    const accounts = await startServiceProcess('accounts', env);
    services.push(accounts);
    env.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
    env.ACCOUNTS_URL = accounts.url;
    const drivers = await startServiceProcess('drivers', env);
    services.push(drivers);
    env.DRIVERS_URL = drivers.url;
    const router = await startServiceProcess('router', env);
    services.push(router);
    const gatewayOnly = await startServiceProcess('router', { ...env, ROUTER_PASSTHROUGH: 'false' });
    services.push(gatewayOnly);
    // The same router with the edge's protective features off (authentication only): what the edge costs.
    const edgeOff = await startServiceProcess('router', { ...env, ROUTER_EDGE: 'false' });
    services.push(edgeOff);

    let started = performance.now();
    const seeded = await seedDriverRows(database.url, driverCount, 30);
    const redis = new Redis(redisUrl);
    const store = new RedisLiveStore(redis, driverKeys(namespace), DEFAULT_RULES);
    await inBatches(seeded, 500, (driver) => transitionDriver(store, driver, 'AVAILABLE', Date.now()));
    const tokens = await mintTokens(env, seeded.map((driver) => ({ userId: driver.userId, role: 'DRIVER' })));
    console.log(`seeded ${driverCount} approved, online drivers with tokens in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const workload: Workload = { kind: 'updateLocation', drivers: seeded.map((driver, i) => ({ token: tokens[i], lat: driver.lat, lng: driver.lng })) };
    const script = fileURLToPath(import.meta.url);
    const cpuLines: string[] = [];
    const cpu = new Map<string, ReturnType<typeof cpuPerRequest>>();
    const phase = async (url: string, label: string): Promise<LoadResult> => {
      // Drivers the last phase did not reach for 30 s were swept offline: bring them back first.
      await inBatches(seeded, 500, (driver) => store.transition(driver, 'AVAILABLE', ['OFFLINE'], Date.now()));
      let cpuBefore: Record<string, number> = {};
      let cpuAfter: Record<string, number> = {};
      const result = await loadInChild(script, { url, primeRequests: driverCount, warmupMs, durationMs, concurrency, ratePerSecond: rate, workload }, {
        measuring: (state, childPid) => {
          if (state === 'started') cpuBefore = cpuByComponent(services, [childPid]);
          else cpuAfter = cpuByComponent(services, [childPid]);
        },
      });
      cpuLines.push(`${label.padEnd(34)} ${cpuPerRequestLine(cpuBefore, cpuAfter, result.requests)}`);
      cpu.set(label, cpuPerRequest(cpuBefore, cpuAfter, result.requests));
      // Let every driver's 2-second window pass before the same drivers report again.
      await new Promise((resolve) => setTimeout(resolve, DEFAULT_RULES.rateLimitMs + 500));
      return result;
    };
    // Straight at drivers first: every router phase then meets a drivers process already warm, so the
    // phases that compare routers differ only by their router.
    const direct = await phase(drivers.url, 'drivers subgraph directly');
    const viaRouter = await phase(router.url, 'through the router');
    const viaEdgeOff = await phase(edgeOff.url, 'router, edge features off');
    const viaGateway = await phase(gatewayOnly.url, 'router, fast path off (gateway)');
    redis.disconnect();

    started = performance.now();
    await drivers.stop(); // flushes the history buffer (onStopped)
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query(`select count(*)::int as count, count(distinct driver_id)::int as drivers from drivers.driver_location_history`);
    const partitions = await client.query(`select count(*)::int as count from pg_inherits i join pg_class p on p.oid = i.inhparent where p.relname = 'driver_location_history'`);
    await client.end();

    console.log('\nupdateLocation (accepted into the live index, 200 OK)');
    console.log(formatResult('through the router', viaRouter));
    console.log(formatResult('router, edge features off', viaEdgeOff));
    console.log(formatResult('router, fast path off (gateway)', viaGateway));
    console.log(formatResult('drivers subgraph directly', direct));
    console.log('\nCPU per request by process, in ms, over the measured window ("bench (clients)" is the load generator)');
    for (const line of cpuLines) console.log(line);
    console.log(edgeCostLine(cpu.get('through the router')!, cpu.get('router, edge features off')!, 5));
    const overhead = viaRouter.latencyMs.p50 - direct.latencyMs.p50;
    console.log(`router overhead at p50: ${overhead.toFixed(1)} ms; target ≥ ${rate}/s with p99 < 100 ms through the router: ${viaRouter.throughput >= rate * 0.98 && viaRouter.latencyMs.p99 < 100 ? 'met' : 'NOT met'}`);
    console.log(`history: ${rows[0].count} rows for ${rows[0].drivers} drivers in ${partitions.rows[0].count} daily partitions (written in batches, flushed on shutdown in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } finally {
    await run.dispose();
  }
}

runBenchmark(import.meta.url, main);
