/**
 * What every benchmark shares: an open- or closed-loop HTTP load generator that runs in a child process
 * (its own event loop, so the measuring never competes with the process under test for a thread), and
 * the fixtures (a database of the run's own, seeded drivers, tokens signed with the accounts key).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { LeanHttpPool } from './lean-http.ts';
import { percentiles } from '../clients/simulator/stats.ts';
import pg from 'pg';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { redisNamespace } from '../platform/redis.ts';
import { loadSigningKey, signAccessToken } from '../subgraphs/accounts/signing-key.ts';
import type { ServiceProcess } from '../tests/support/processes.ts';
import { VEHICLE_TYPES } from '../subgraphs/drivers/entities.ts';
import { driverKeys } from '../subgraphs/drivers/live/keys.ts';

export interface LatLngPoint {
  lat: number;
  lng: number;
}

export type Workload =
  | { kind: 'updateLocation'; drivers: Array<{ token: string } & LatLngPoint> }
  | { kind: 'nearbyDrivers'; token: string; queries: Array<{ near: LatLngPoint; radiusM: number; vehicleType: string | null; first: number }> }
  /** Prepared requests, sent in turn (cycling); any GraphQL error counts by its code. */
  | { kind: 'requests'; requests: Array<{ token: string; body: string }> };

export interface LoadSpec {
  url: string;
  warmupMs: number;
  /** Before the timed warm-up: this many requests, closed loop, unmeasured (e.g. one per driver, so every token and driver is cached everywhere). */
  primeRequests?: number;
  durationMs: number;
  /** Connections (and so requests in flight) at most. */
  concurrency: number;
  /** Open loop: requests started per second (bounded by `concurrency`). Absent: closed loop, `concurrency` always in flight. */
  ratePerSecond?: number;
  workload: Workload;
}

export interface LoadResult {
  requests: number;
  ok: number;
  /** By error code (or HTTP status, or `rejected:<reason>` for a fix kept out of the live index). */
  errors: Record<string, number>;
  seconds: number;
  throughput: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  /** Open loop: requests that could not start on time because every connection was busy (the server fell behind). */
  late: number;
}

const UPDATE_LOCATION = 'mutation Ingest($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }';
const NEARBY_DRIVERS =
  'query Nearby($near: LatLngInput!, $radiusM: Int, $vehicleType: VehicleType, $first: Int) { nearbyDrivers(near: $near, radiusM: $radiusM, vehicleType: $vehicleType, first: $first) { distanceM lastSeenAt location { lat lng } driver { id } } }';

/** Builds request i of a workload: its token and JSON body. Drivers walk a few meters per fix (about 20 km/h). */
function requestMaker(workload: Workload): (i: number) => { token: string; body: string } {
  if (workload.kind === 'updateLocation') {
    const positions = workload.drivers.map((driver) => ({ lat: driver.lat, lng: driver.lng }));
    return (i) => {
      const index = i % positions.length;
      const position = positions[index];
      position.lat += (Math.random() - 0.5) * 0.0003;
      position.lng += (Math.random() - 0.5) * 0.0003;
      const input = { lat: position.lat, lng: position.lng, heading: Math.floor(Math.random() * 360), speedKmh: 20, accuracyM: 8, recordedAt: new Date().toISOString() };
      return { token: workload.drivers[index].token, body: JSON.stringify({ query: UPDATE_LOCATION, variables: { input } }) };
    };
  }
  if (workload.kind === 'requests') return (i) => workload.requests[i % workload.requests.length];
  return (i) => ({ token: workload.token, body: JSON.stringify({ query: NEARBY_DRIVERS, variables: workload.queries[i % workload.queries.length] }) });
}

function outcomeOf(workload: Workload, status: number, text: string): string | null {
  if (status !== 200) return `HTTP ${status}`;
  try {
    const body = JSON.parse(text);
    if (body.errors?.length) return String(body.errors[0].extensions?.code ?? 'UNKNOWN');
    if (workload.kind === 'updateLocation' && !body.data?.updateLocation?.accepted) return `rejected:${body.data?.updateLocation?.rejectedReason}`;
    return null;
  } catch {
    return 'INVALID_JSON';
  }
}

/** Nearest-rank percentiles: one function for the benchmarks and the simulator (npm run simulate). */
export { percentiles };

/** Told when the measured window opens and closes (so a caller can sample CPU over exactly that window). */
export interface MeasureHooks {
  measuring?(state: 'started' | 'ended'): void;
}

/** Runs the load and measures it; keep-alive connections (bench/lean-http.ts), bounded concurrency. */
export async function runLoad(spec: LoadSpec, hooks: MeasureHooks = {}): Promise<LoadResult> {
  const pool = new LeanHttpPool(spec.url, spec.concurrency);
  const make = requestMaker(spec.workload);
  let sequence = 0;
  let inFlight = 0;
  let measuring = false;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;

  const send = async (): Promise<void> => {
    const { token, body } = make(sequence++);
    inFlight += 1;
    const recorded = measuring;
    const started = performance.now();
    try {
      const response = await pool.post(body, `authorization: Bearer ${token}\r\n`);
      const outcome = outcomeOf(spec.workload, response.status, response.body);
      if (recorded) {
        latencies.push(performance.now() - started);
        if (outcome) errors[outcome] = (errors[outcome] ?? 0) + 1;
        else ok += 1;
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'NETWORK';
      if (recorded) errors[code] = (errors[code] ?? 0) + 1;
    } finally {
      inFlight -= 1;
    }
  };

  let late = 0;
  const phase = async (ms: number) => {
    const start = performance.now();
    const end = start + ms;
    if (spec.ratePerSecond) {
      // Open loop: by time t, rate·t requests should have started; start what is due as connections allow.
      let started = 0;
      let counted = 0; // requests already counted as late
      const pending = new Set<Promise<void>>();
      while (performance.now() < end) {
        const due = Math.floor(((performance.now() - start) / 1000) * spec.ratePerSecond);
        while (started < due && inFlight < spec.concurrency) {
          const request = send().then(() => void pending.delete(request));
          pending.add(request);
          started += 1;
        }
        if (measuring && due > started) {
          late += due - Math.max(started, counted);
          counted = due;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(pending);
    } else {
      const worker = async () => {
        while (performance.now() < end) await send();
      };
      await Promise.all(Array.from({ length: spec.concurrency }, worker));
    }
  };

  if (spec.primeRequests) {
    const worker = async () => {
      while (sequence < spec.primeRequests!) await send();
    };
    await Promise.all(Array.from({ length: spec.concurrency }, worker));
  }
  await phase(spec.warmupMs);
  measuring = true;
  hooks.measuring?.('started');
  const measuredFrom = performance.now();
  await phase(spec.durationMs);
  const seconds = (performance.now() - measuredFrom) / 1000;
  hooks.measuring?.('ended');
  pool.close();
  const { p50, p95, p99, max } = percentiles(latencies);
  return {
    requests: latencies.length,
    ok,
    errors,
    seconds,
    throughput: latencies.length / seconds,
    latencyMs: { p50, p95, p99, max, mean: latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1) },
    late,
  };
}

/** The child side: receive one spec, run it, send the result, exit. */
export function serveLoadGenerator() {
  process.once('message', async (spec: LoadSpec) => {
    const result = await runLoad(spec, { measuring: (state) => process.send!({ measuring: state }) });
    process.send!({ result }, () => process.exit(0));
  });
}

/** Runs a spec in a child process (`script --load-generator`); hooks get the child's pid too. */
export function loadInChild(script: string, spec: LoadSpec, hooks: { measuring?(state: 'started' | 'ended', childPid: number): void } = {}): Promise<LoadResult> {
  const child: ChildProcess = fork(script, ['--load-generator'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  return new Promise((resolve, reject) => {
    child.on('message', (message: { measuring?: 'started' | 'ended'; result?: LoadResult }) => {
      if (message.measuring) hooks.measuring?.(message.measuring, child.pid!);
      if (message.result) resolve(message.result);
    });
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
    child.send(spec);
  });
}

/** CPU per request by component over a measured window, as "router 0.21 ms · drivers 0.30 ms · …". */
export function cpuPerRequestLine(before: Record<string, number>, after: Record<string, number>, requests: number): string {
  const { total, parts } = cpuPerRequest(before, after, requests);
  return `CPU per request ${total.toFixed(2)} ms: ${parts.map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(' · ')}`;
}

/** Milliseconds of CPU per request, by process (largest first) and in all. */
export function cpuPerRequest(before: Record<string, number>, after: Record<string, number>, requests: number): { total: number; parts: ReadonlyArray<readonly [string, number]> } {
  const parts = Object.keys(after)
    .map((name) => [name, ((after[name]! - (before[name] ?? 0)) * 1000) / Math.max(1, requests)] as const)
    .filter(([, ms]) => ms >= 0.005)
    .sort((a, b) => b[1] - a[1]);
  return { total: parts.reduce((sum, [, ms]) => sum + ms, 0), parts };
}

/** The edge's cost: how much more CPU per request a phase with the edge on took than the same phase with it off. */
export function edgeCostLine(on: { total: number; parts: ReadonlyArray<readonly [string, number]> }, off: { total: number; parts: ReadonlyArray<readonly [string, number]> }, targetPercent: number): string {
  const router = (cpu: typeof on) => cpu.parts.find(([name]) => name === 'router')?.[1] ?? 0;
  const percent = ((on.total - off.total) / off.total) * 100;
  return `the edge's cost: ${percent >= 0 ? '+' : ''}${percent.toFixed(1)} % CPU per request (${on.total.toFixed(3)} vs ${off.total.toFixed(3)} ms; router ${router(on).toFixed(3)} vs ${router(off).toFixed(3)} ms); target ≤ ${targetPercent} %: ${percent <= targetPercent ? 'met' : 'NOT met'}`;
}

export function formatResult(label: string, result: LoadResult): string {
  const l = result.latencyMs;
  const errors = Object.entries(result.errors).map(([code, count]) => `${code}×${count}`).join(', ') || 'none';
  return `${label.padEnd(34)} ${result.throughput.toFixed(0).padStart(6)}/s  p50 ${l.p50.toFixed(1).padStart(6)} ms  p95 ${l.p95.toFixed(1).padStart(6)} ms  p99 ${l.p99.toFixed(1).padStart(6)} ms  max ${l.max.toFixed(0).padStart(5)} ms  ok ${result.ok}/${result.requests}  errors: ${errors}${result.late ? `  late starts: ${result.late}` : ''}`;
}

export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/** DATABASE_URL and REDIS_URL (default: the local servers); a benchmark never runs against anything but this machine. */
export function localServers(): { adminUrl: string; redisUrl: string } {
  const adminUrl = process.env.DATABASE_URL ?? LOCAL_DATABASE_URL;
  const redisUrl = process.env.REDIS_URL ?? LOCAL_REDIS_URL;
  for (const value of [adminUrl, redisUrl]) {
    if (!['127.0.0.1', 'localhost'].includes(new URL(value).hostname)) throw new Error(`the benchmark only runs against 127.0.0.1, not ${value}`);
  }
  return { adminUrl, redisUrl };
}

/**
 * The entry point of a benchmark file: runs `main` when the file is started directly, or serves as the
 * load generator when bench/support.ts forks it with `--load-generator`.
 */
export function runBenchmark(moduleUrl: string, main: () => Promise<void>): void {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  if (process.argv.includes('--load-generator')) return serveLoadGenerator();
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

/** A database of the run's own on the Postgres at `adminUrl`, dropped by `drop()`. */
export async function createBenchDatabase(adminUrl: string, label: string) {
  const name = `smartline_bench_${label}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists "${name}" with (force)`);
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists "${name}" with (force)`);
      await client.end();
    },
  };
}

/** A benchmark's own database, data directory and environment for its service processes, undone by `dispose`. */
export interface BenchRun {
  readonly database: { readonly url: string };
  readonly redisUrl: string;
  /** The run's Redis namespace (its keys, streams and quotes). */
  readonly namespace: string;
  /** For `startServiceProcess`: distributed mode on the run's database and the local Redis. */
  readonly env: Record<string, string>;
  /** Service processes the run started; `dispose` stops them. */
  readonly services: ServiceProcess[];
  /** Stops the services, deletes the run's Redis keys, drops its database and data directory. */
  dispose(): Promise<void>;
}

export interface BenchRunOptions {
  /** Extra or overriding environment for the service processes. */
  env?: Record<string, string>;
  /** Writes a CPU profile of every service process here (open them in Chrome DevTools). */
  profileDir?: string;
}

export async function startBenchRun(label: string, options: BenchRunOptions = {}): Promise<BenchRun> {
  const { adminUrl, redisUrl } = localServers();
  const database = await createBenchDatabase(adminUrl, label);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'smartline-bench-'));
  const services: ServiceProcess[] = [];
  const namespace = redisNamespace({ databaseUrl: database.url, dataDir });
  return {
    database,
    redisUrl,
    namespace,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      // Answers as production writes them: `extensions.cost` is a development aid.
      ROUTER_COST_IN_EXTENSIONS: 'false',
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      DATA_DIR: dataDir,
      DATABASE_POOL_MAX: '10',
      SHUTDOWN_TIMEOUT_MS: '5000',
      ...(options.profileDir || process.env.SERVICE_NODE_OPTIONS
        ? { NODE_OPTIONS: [process.env.SERVICE_NODE_OPTIONS, options.profileDir ? `--cpu-prof --cpu-prof-dir=${path.resolve(options.profileDir)}` : ''].filter(Boolean).join(' ') }
        : {}),
      ...options.env,
    },
    services,
    async dispose() {
      await Promise.allSettled(services.map((service) => service.stop()));
      await deleteRedisNamespace(redisUrl, namespace);
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Deletes every SmartLine key of a namespace (drivers' live index, pricing's quotes, event streams). */
export async function deleteRedisNamespace(redisUrl: string, namespace: string) {
  const redis = new Redis(redisUrl);
  for (const pattern of [`smartline:*${`{${namespace}}`.replace(/[{}*?[\]]/g, '\\$&')}*`, ...driverKeys(namespace).patterns]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  redis.disconnect();
}

export interface SeededDriver extends LatLngPoint {
  id: string;
  userId: string;
  vehicleType: (typeof VEHICLE_TYPES)[number];
}

/** `count` approved drivers spread over a square of `sizeKm` around Cairo, as drivers rows (bulk SQL). */
export async function seedDriverRows(databaseUrl: string, count: number, sizeKm: number): Promise<SeededDriver[]> {
  const center = { lat: 30.0444, lng: 31.2357 };
  const drivers: SeededDriver[] = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    userId: randomUUID(),
    vehicleType: VEHICLE_TYPES[i % VEHICLE_TYPES.length],
    lat: center.lat + ((Math.random() - 0.5) * sizeKm) / 111.2,
    lng: center.lng + ((Math.random() - 0.5) * sizeKm) / 96.3,
  }));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const now = new Date();
    for (let offset = 0; offset < drivers.length; offset += 2000) {
      const chunk = drivers.slice(offset, offset + 2000);
      const columns = 9;
      const values = chunk.map((_, i) => `(${Array.from({ length: columns }, (_, c) => `$${i * columns + c + 1}`).join(', ')}, 'Toyota', 'Corolla', 'White', 2021, 'APPROVED')`).join(', ');
      const params = chunk.flatMap((driver, i) => [driver.id, driver.userId, driver.vehicleType, `B ${offset + i}`, now, now, now, null, null]);
      await client.query(
        `insert into drivers.drivers (id, user_id, vehicle_type, vehicle_plate, approved_at, created_at, updated_at, approved_by, rating, vehicle_make, vehicle_model, vehicle_color, vehicle_year, approval_status) values ${values}`,
        params,
      );
    }
  } finally {
    await client.end();
  }
  return drivers;
}

/** Access tokens signed with the accounts key under `dataDir` (the one the running accounts service uses). */
export async function mintTokens(env: Record<string, string>, principals: Array<{ userId: string; role: 'DRIVER' | 'RIDER' }>): Promise<string[]> {
  const config = loadConfig('accounts', env);
  const key = await loadSigningKey(config, createLogger(config));
  const options = { issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 };
  const tokens: string[] = [];
  for (const principal of principals) tokens.push((await signAccessToken(key, principal, options)).token);
  return tokens;
}

/** Runs `task` over `items`, at most `width` at a time. */
export async function inBatches<T>(items: readonly T[], width: number, task: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(task));
}

/** Busy and total CPU time of the whole machine so far (Linux /proc/stat, in clock ticks); undefined elsewhere. */
export function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/**
 * How fast this machine is at what the stack does most: a prepared one-row statement over loopback TCP,
 * `rounds` times from one `pg` client, after a warm-up. Answers the CPU per round trip of this process
 * (the client: node-postgres, the socket) and of its Postgres backend, in microseconds. Printed next to
 * a benchmark's figures, so runs on different machines can be compared.
 */
export async function statementCalibration(databaseUrl: string, rounds = 3_000): Promise<{ clientUs: number; postgresUs: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const statement = (i: number) => client.query({ name: 'smartline_calibration', text: 'select $1::int as "n"', values: [i] });
    for (let i = 0; i < 300; i++) await statement(i);
    const backend = Number((await client.query('select pg_backend_pid() as "pid"')).rows[0].pid);
    const backendBefore = processCpuSeconds(backend);
    const before = process.cpuUsage();
    for (let i = 0; i < rounds; i++) await statement(i);
    const used = process.cpuUsage(before);
    return { clientUs: (used.user + used.system) / rounds, postgresUs: ((processCpuSeconds(backend) - backendBefore) * 1e6) / rounds };
  } finally {
    await client.end();
  }
}

/** CPU seconds used so far by a process (Linux /proc/<pid>/stat: utime + stime); 0 when unreadable. */
function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** Pids of the processes named `name` (Postgres backends, Redis), from /proc. */
function pidsNamed(name: string): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith(name);
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds by component: each service process, Postgres (all backends), Redis, and this process. */
export function cpuByComponent(services: readonly ServiceProcess[], extraPids: readonly number[] = []): Record<string, number> {
  const sum = (pids: number[]) => pids.reduce((total, pid) => total + processCpuSeconds(pid), 0);
  const byService: Record<string, number> = {};
  for (const service of services) byService[service.name] = (byService[service.name] ?? 0) + (service.child.pid ? processCpuSeconds(service.child.pid) : 0);
  return { ...byService, postgres: sum(pidsNamed('postgres')), redis: sum(pidsNamed('redis-server')), 'bench (clients)': processCpuSeconds(process.pid) + extraPids.reduce((total, pid) => total + processCpuSeconds(pid), 0) };
}
