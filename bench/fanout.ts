/**
 * Subscription fan-out benchmark (bench/README.md, "Fan-out"):
 *   npm run bench:fanout -- [--subscribers 10000] [--drivers 1000] [--interval-ms 3000] [--duration-s 60]
 *                           [--updates router|subgraph] [--federated] [--principals N] [--no-baseline]
 *
 * accounts, drivers and the router run as processes of their own (bin/service.ts, distributed mode;
 * DATABASE_URL / REDIS_URL default to the local 127.0.0.1 servers, a fresh database is created and
 * dropped, the run's Redis keys deleted). This process is the load generator and runs no server:
 * drivers move every interval through `updateLocation`, subscribers follow them over graphql-ws. Phase
 * "router" connects the subscribers to the router; phase "baseline" connects the same subscribers
 * straight to the drivers subgraph.
 */
import { spawnSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportPKCS8, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { loadConfig } from '../platform/config.ts';
import { driverKeys, redisNamespace } from '../subgraphs/drivers/live/keys.ts';
import { createTestDatabase, type TestDatabase } from '../tests/support/database.ts';
import { startServiceProcess, type ServiceProcess } from '../tests/support/processes.ts';
import { percentiles } from './support.ts';

const { values: flags } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '10000' },
    drivers: { type: 'string', default: '1000' },
    'interval-ms': { type: 'string', default: '3000' },
    'duration-s': { type: 'string', default: '60' },
    updates: { type: 'string', default: 'router' },
    federated: { type: 'boolean', default: false },
    principals: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
    /** Diagnostics: service logs (warn and up) and the router's CPU profile go to this directory. */
    'diagnostics-dir': { type: 'string' },
  },
});
process.env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/postgres';
process.env.REDIS_URL ||= 'redis://127.0.0.1:6379';
const SUBSCRIBERS = Number(flags.subscribers);
const DRIVERS = Number(flags.drivers);
const INTERVAL_MS = Number(flags['interval-ms']);
const DURATION_MS = Number(flags['duration-s']) * 1000;
const PRINCIPALS = Number(flags.principals ?? SUBSCRIBERS);
const UPDATES_VIA = flags.updates === 'subgraph' ? 'subgraph' : 'router';
const SELECTION = flags.federated
  ? 'driverId location { lat lng } heading speedKmh recordedAt driver { vehicle { plate } user { name } }'
  : 'driverId location { lat lng } heading speedKmh recordedAt';
const FOLLOW = `subscription Follow($id: ID!) { driverLocation(driverId: $id) { ${SELECTION} } }`;
/** After the last update, how long stragglers may take before they count as lost. */
const GRACE_MS = 5_000;
/** While subscribers connect, drivers send a fix this often: enough to stay online (presence lasts 30 s). */
const KEEP_ALIVE_INTERVAL_MS = 12_000;
/** Subscribers not live by then are reported as failed to start. */
const READY_TIMEOUT_MS = 180_000;


// ---------------------------------------------------------------- infrastructure

interface Infra {
  database: TestDatabase;
  services: ServiceProcess[];
  routerUrl: string;
  driversUrl: string;
  router: ServiceProcess;
  drivers: ServiceProcess;
  accounts: ServiceProcess;
  mint(sub: string, role: 'ADMIN' | 'DRIVER'): Promise<string>;
}

async function startInfra(): Promise<Infra> {
  const database = await createTestDatabase();
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    DATA_DIR: database.dataDir,
    DATABASE_POOL_MAX: '10',
    JWT_PRIVATE_KEY: await exportPKCS8(privateKey),
    JWT_KEY_ID: 'bench-fanout',
    ACCESS_TOKEN_TTL_SECONDS: '3600',
    // Every bench driver signs up and subscribes from this one address: the router's rate limits would refuse them.
    RATE_LIMITS: 'false',
  };
  const services: ServiceProcess[] = [];
  const accounts = await startServiceProcess('accounts', env);
  services.push(accounts);
  env.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
  const drivers = await startServiceProcess('drivers', env);
  services.push(drivers);
  const diagnostics = flags['diagnostics-dir'] ? path.resolve(flags['diagnostics-dir']) : undefined;
  const router = await startServiceProcess('router', {
    ...env,
    ACCOUNTS_URL: accounts.url,
    DRIVERS_URL: drivers.url,
    ...(diagnostics ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${diagnostics}` } : {}),
  });
  services.push(router);
  if (diagnostics) {
    mkdirSync(diagnostics, { recursive: true });
    for (const service of services) {
      const log = createWriteStream(path.join(diagnostics, `${service.name}.log`));
      // Everything from warn (40) up, as the service wrote it.
      service.child.stdout!.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) if (/"level":(4|5|6)\d/.test(line)) log.write(`${line}\n`);
      });
    }
  }
  const { issuer, audience } = loadConfig('router', env).jwt;
  const mint = (sub: string, role: 'ADMIN' | 'DRIVER') => mintToken(privateKey, { sub, role, issuer, audience });
  return { database, services, routerUrl: router.url, driversUrl: drivers.url, router, drivers, accounts, mint };
}

function mintToken(key: CryptoKey, claims: { sub: string; role: string; issuer: string; audience: string }) {
  return new SignJWT({ role: claims.role }).setProtectedHeader({ alg: 'ES256', kid: 'bench-fanout' }).setSubject(claims.sub).setIssuer(claims.issuer).setAudience(claims.audience).setIssuedAt().setExpirationTime('2h').sign(key);
}

async function gql(url: string, token: string | undefined, query: string, variables?: Record<string, unknown>) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  return body;
}

async function must(url: string, token: string | undefined, query: string, variables?: Record<string, unknown>) {
  const body = await gql(url, token, query, variables);
  if (body.errors || !body.data) throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
async function pool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  }));
  return results;
}

// ---------------------------------------------------------------- drivers and their updates

interface BenchDriver {
  driverId: string;
  token: string;
  lat: number;
  lng: number;
}

/** Signs drivers up through the router (real accounts users, for `user { name }`), registers, approves them. */
async function createDrivers(infra: Infra): Promise<BenchDriver[]> {
  const admin = await infra.mint(randomUUID(), 'ADMIN');
  const stamp = String(Date.now() % 1_000_000).padStart(6, '0');
  return pool(Array.from({ length: DRIVERS }, (_, i) => i), 16, async (i) => {
    const phone = `+2015${stamp.slice(0, 2)}${String(i).padStart(6, '0')}`;
    const signUp = await must(infra.routerUrl, undefined, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, { input: { phone, password: 'bench-password-123', name: `Driver ${i}`, role: 'DRIVER' } });
    const token = signUp.signUp.accessToken as string;
    const vehicle = { type: 'ECONOMY', make: 'Toyota', model: 'Corolla', color: 'White', plate: `BEN ${i}`, year: 2022 };
    const driverId = (await must(infra.routerUrl, token, `mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`, { v: vehicle })).registerDriver.id as string;
    await must(infra.routerUrl, admin, `mutation($id: ID!) { approveDriver(driverId: $id) { id } }`, { id: driverId });
    return { driverId, token, lat: 30.0 + (i % 100) * 0.002, lng: 31.2 + Math.floor(i / 100) * 0.002 };
  });
}

interface SentUpdate {
  sentAt: number;
  ackAt: number | undefined;
  accepted: boolean | undefined;
  /** Why it was not accepted: rejectedReason, or the error's code. */
  reason?: string;
}

/**
 * Every driver sends one fix per interval, spread evenly over the interval. `pace(ms)` changes the
 * interval (a slow pace keeps drivers online while subscribers connect; the measured pace is INTERVAL_MS).
 */
class Updater {
  readonly sent = new Map<string, SentUpdate>();
  /** The first error message seen per rejection reason. */
  readonly examples = new Map<string, string>();
  readonly drivers: BenchDriver[];
  readonly url: string;
  #timers: NodeJS.Timeout[] = [];
  #inFlight = new Set<Promise<void>>();

  constructor(drivers: BenchDriver[], url: string) {
    this.drivers = drivers;
    this.url = url;
  }

  /** (Re)starts at this interval; the first new fix of each driver comes at least the rate-limit window after its last. */
  async pace(intervalMs: number) {
    await this.stop();
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // drivers' rate limit: one fix per 2 s
    this.drivers.forEach((driver, index) => {
      const fire = () => this.#send(driver);
      this.#timers.push(setTimeout(() => {
        fire();
        this.#timers.push(setInterval(fire, intervalMs));
      }, (index * intervalMs) / this.drivers.length));
    });
  }

  async stop() {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
    await Promise.all(this.#inFlight);
  }

  #send(driver: BenchDriver) {
    driver.lat += 0.00005; // ~5.5 m per interval: a plausible crawl through traffic
    const recordedAt = new Date().toISOString();
    const entry: SentUpdate = { sentAt: performance.now(), ackAt: undefined, accepted: undefined };
    this.sent.set(`${driver.driverId}|${recordedAt}`, entry);
    const input = { lat: Number(driver.lat.toFixed(6)), lng: driver.lng, heading: 0, speedKmh: 7, accuracyM: 5, recordedAt };
    const request = gql(this.url, driver.token, `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }`, { input }).then(
      (body) => {
        entry.ackAt = performance.now();
        entry.accepted = body.data?.updateLocation?.accepted === true;
        if (!entry.accepted) {
          entry.reason = body.data?.updateLocation?.rejectedReason ?? body.errors?.[0]?.extensions?.code ?? 'ERROR';
          if (body.errors && !this.examples.has(entry.reason!)) this.examples.set(entry.reason!, body.errors[0].message);
        }
      },
      () => {
        entry.ackAt = performance.now();
        entry.accepted = false;
        entry.reason = 'NETWORK';
      },
    );
    this.#inFlight.add(request);
    request.finally(() => this.#inFlight.delete(request));
  }
}

// ---------------------------------------------------------------- subscribers

interface Receipt {
  key: string;
  at: number;
}

class Follower {
  readonly receipts: Receipt[] = [];
  misrouted = 0;
  failure: string | undefined;
  readonly ready: Promise<void>;
  #socket: WebSocket | undefined;
  #markReady!: () => void;

  readonly driverId: string;

  constructor(driverId: string) {
    this.driverId = driverId;
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
  }

  /** Opens, authenticates and subscribes; `ready` resolves with the first event (the snapshot or a live fix). */
  open(url: string, token: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { perMessageDeflate: false });
      this.#socket = socket;
      let opened = false;
      socket.once('open', () => {
        opened = true;
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
        resolve();
      });
      socket.on('error', (error) => {
        if (!opened) reject(error);
        else this.failure ??= `socket error: ${error.message}`;
      });
      socket.on('close', (code) => {
        if (!this.failure && code !== 1000) this.failure = `closed ${code}`;
        this.#markReady();
      });
      socket.on('message', (raw) => this.#onMessage(JSON.parse(raw.toString()), socket));
    });
  }

  #onMessage(message: { type: string; payload?: any }, socket: WebSocket) {
    if (message.type === 'connection_ack') {
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: FOLLOW, variables: { id: this.driverId } } }));
    } else if (message.type === 'next') {
      const location = message.payload?.data?.driverLocation;
      if (!location || message.payload.errors) this.failure ??= `errors: ${JSON.stringify(message.payload.errors).slice(0, 200)}`;
      else if (location.driverId !== this.driverId) this.misrouted += 1;
      else this.receipts.push({ key: `${location.driverId}|${location.recordedAt}`, at: performance.now() });
      this.#markReady();
    } else if (message.type === 'error' || message.type === 'complete') {
      this.failure ??= `${message.type}: ${JSON.stringify(message.payload ?? null).slice(0, 200)}`;
      this.#markReady();
    } else if (message.type === 'ping') {
      socket.send(JSON.stringify({ type: 'pong' }));
    }
  }

  close() {
    this.#socket?.close(1000);
  }
}

// ---------------------------------------------------------------- one phase

interface PhaseReport {
  phase: string;
  subscribers: number;
  connectSeconds: number;
  updatesSent: number;
  updatesRejected: Record<string, number>;
  expected: number;
  received: number;
  lost: number;
  misrouted: number;
  duplicates: number;
  unknown: number;
  failedSubscribers: number;
  /** Subscribers that saw no first event within READY_TIMEOUT_MS (their expected events count as lost). */
  notLive: number;
  latencyFromAckMs: { p50: number; p99: number; max: number };
  latencyFromSendMs: { p50: number; p99: number; max: number };
  arrivedBeforeAck: number;
  mutationRoundTripMs: { p50: number; p99: number };
  peakRssMb: Record<string, number>;
  cpuPercent: Record<string, number>;
}

async function runPhase(name: string, target: string, infra: Infra, drivers: BenchDriver[], tokens: string[], updater: Updater): Promise<PhaseReport> {
  const followers = Array.from({ length: SUBSCRIBERS }, (_, i) => new Follower(drivers[i % drivers.length].driverId));
  const connectStart = performance.now();
  let retries = 0;
  await pool(followers, 64, async (follower, i) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await follower.open(target, tokens[i % tokens.length]);
      } catch (error) {
        // An app reconnects too; the bench only gives up when the target is gone.
        if (attempt >= 10 || infra.router.child.exitCode !== null || infra.drivers.child.exitCode !== null) throw error;
        retries += 1;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
  if (retries > 0) console.log(`[${name}] ${retries} connection attempts were retried`);
  // Live = the first event arrived (the driver's last fix, sent when the subgraph's subscription is ready).
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(followers.map((follower) => follower.ready)), new Promise((resolve) => (timer = setTimeout(resolve, READY_TIMEOUT_MS)))]);
  clearTimeout(timer);
  const connectSeconds = (performance.now() - connectStart) / 1000;
  const failedToStart = followers.filter((follower) => follower.failure || follower.receipts.length === 0).length;
  console.log(`[${name}] ${SUBSCRIBERS - failedToStart} of ${SUBSCRIBERS} subscribers live in ${connectSeconds.toFixed(1)} s; updates every ${INTERVAL_MS} ms from now; measuring for ${DURATION_MS / 1000} s after one interval`);

  // A subgraph swamped by the connection storm may have missed fixes long enough to sweep drivers OFFLINE.
  const revived = (await pool(drivers, 32, async (driver) => !(await gql(infra.routerUrl, driver.token, `mutation { goOnline { id } }`)).errors)).filter(Boolean).length;
  if (revived > 0) console.log(`[${name}] ${revived} drivers had been taken offline while subscribers connected; back online`);
  await updater.pace(INTERVAL_MS);
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS)); // one full round before the window: a steady state
  const watched = { router: infra.router, drivers: infra.drivers, accounts: infra.accounts };
  const rss = sampleRss(watched);
  const cpuBefore = cpuSeconds(watched);
  const ownCpuBefore = process.cpuUsage();
  const windowStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
  const windowEnd = performance.now();
  const cpuAfter = cpuSeconds(watched);
  const ownCpu = process.cpuUsage(ownCpuBefore);

  // Updates sent inside the window, and what each follower of that driver should have received.
  const inWindow = [...updater.sent].filter(([, update]) => update.sentAt >= windowStart && update.sentAt < windowEnd);
  const followersOf = new Map<string, number>();
  for (const follower of followers) followersOf.set(follower.driverId, (followersOf.get(follower.driverId) ?? 0) + 1);
  const lastAck = async () => {
    const deadline = performance.now() + GRACE_MS + 30_000;
    while (inWindow.some(([, update]) => update.accepted === undefined) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  await lastAck();
  const accepted = inWindow.filter(([, update]) => update.accepted);
  const expected = accepted.reduce((sum, [key]) => sum + (followersOf.get(key.split('|')[0]) ?? 0), 0);
  const wanted = new Set(accepted.map(([key]) => key));
  const countReceived = () => followers.reduce((sum, follower) => sum + follower.receipts.filter((receipt) => wanted.has(receipt.key)).length, 0);
  const graceEnd = performance.now() + GRACE_MS;
  while (countReceived() < expected && performance.now() < graceEnd) await new Promise((resolve) => setTimeout(resolve, 100));
  rss.stop();

  const fromAck: number[] = [];
  const fromSend: number[] = [];
  let received = 0;
  let duplicates = 0;
  let unknown = 0;
  let arrivedBeforeAck = 0;
  for (const follower of followers) {
    const seen = new Set<string>();
    for (const receipt of follower.receipts) {
      const update = updater.sent.get(receipt.key);
      if (!update) {
        unknown += 1;
        continue;
      }
      if (seen.has(receipt.key)) duplicates += 1;
      seen.add(receipt.key);
      if (!wanted.has(receipt.key)) continue;
      received += 1;
      fromSend.push(receipt.at - update.sentAt);
      if (receipt.at < update.ackAt!) arrivedBeforeAck += 1;
      fromAck.push(Math.max(0, receipt.at - update.ackAt!));
    }
  }
  const roundTrips = accepted.map(([, update]) => update.ackAt! - update.sentAt);
  for (const follower of followers) follower.close();
  const report: PhaseReport = {
    phase: name,
    subscribers: SUBSCRIBERS,
    connectSeconds: round(connectSeconds),
    updatesSent: inWindow.length,
    updatesRejected: inWindow.reduce<Record<string, number>>((counts, [, update]) => {
      if (update.reason) counts[update.reason] = (counts[update.reason] ?? 0) + 1;
      return counts;
    }, {}),
    expected,
    received: received - duplicates,
    lost: Math.max(0, expected - (received - duplicates)),
    misrouted: followers.reduce((sum, follower) => sum + follower.misrouted, 0),
    duplicates,
    unknown,
    failedSubscribers: followers.filter((follower) => follower.failure).length,
    notLive: failedToStart,
    latencyFromAckMs: roundedPercentiles(fromAck),
    latencyFromSendMs: roundedPercentiles(fromSend),
    arrivedBeforeAck,
    mutationRoundTripMs: (({ p50, p99 }) => ({ p50, p99 }))(roundedPercentiles(roundTrips)),
    peakRssMb: rss.peaks(),
    cpuPercent: {
      ...Object.fromEntries(Object.keys(watched).map((key) => [key, round((100 * (cpuAfter[key] - cpuBefore[key])) / ((windowEnd - windowStart) / 1000))])),
      loadGenerator: round((100 * (ownCpu.user + ownCpu.system)) / 1000 / (windowEnd - windowStart)),
    },
  };
  const failure = followers.find((follower) => follower.failure)?.failure;
  if (failure) console.log(`[${name}] first subscriber failure: ${failure}`);
  await updater.pace(KEEP_ALIVE_INTERVAL_MS);
  return report;
}

// ---------------------------------------------------------------- measurements

/** p50, p99 and max to a tenth of a millisecond (the report's precision). */
function roundedPercentiles(values: number[]) {
  const { p50, p99, max } = percentiles(values);
  return { p50: round(p50), p99: round(p99), max: round(max) };
}

function round(value: number) {
  return Math.round(value * 10) / 10;
}

function sampleRss(processes: Record<string, ServiceProcess>) {
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const [name, service] of Object.entries(processes)) {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${service.child.pid}/status`, 'utf8'));
      if (match) peak[name] = Math.max(peak[name] ?? 0, Number(match[1]) / 1024);
    }
    peak.loadGenerator = Math.max(peak.loadGenerator ?? 0, process.memoryUsage.rss() / 1024 / 1024);
  };
  sample();
  const timer = setInterval(sample, 1_000);
  return {
    stop: () => clearInterval(timer),
    peaks: () => Object.fromEntries(Object.entries(peak).map(([name, mb]) => [name, Math.round(mb)])),
  };
}

function cpuSeconds(processes: Record<string, ServiceProcess>): Record<string, number> {
  const ticks = 100; // USER_HZ
  return Object.fromEntries(
    Object.entries(processes).map(([name, service]) => {
      const fields = readFileSync(`/proc/${service.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return [name, (Number(fields[11]) + Number(fields[12])) / ticks];
    }),
  );
}

/**
 * Re-executes this script under `ulimit -n <hard limit>` when the soft limit is too low for the sockets
 * (every child process inherits it). Returns true when the re-executed child does the work.
 */
function raiseOpenFileLimit(needed: number): boolean {
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isNaN(soft) || soft >= needed || process.env.FANOUT_ULIMIT_RAISED) {
    if (soft < needed) console.warn(`open-file limit ${soft} is below the ${needed} this run needs`);
    return false;
  }
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, FANOUT_ULIMIT_RAISED: '1' },
  });
  child.on('exit', (code) => process.exit(code ?? 1));
  return true;
}

async function cleanRedis(database: TestDatabase) {
  if (!process.env.REDIS_URL || !database.databaseUrl) return;
  const namespace = redisNamespace({ databaseUrl: database.databaseUrl, dataDir: '.data' });
  const redis = new Redis(process.env.REDIS_URL);
  try {
    for (const pattern of driverKeys(namespace).patterns) {
      for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) if ((keys as string[]).length) await redis.del(...(keys as string[]));
    }
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  console.log(`fan-out: ${SUBSCRIBERS} subscribers (${PRINCIPALS} principals) following ${DRIVERS} drivers, a fix every ${INTERVAL_MS} ms each via the ${UPDATES_VIA}, ${DURATION_MS / 1000} s per phase; selection: ${flags.federated ? 'federated' : 'location'}; Redis: ${process.env.REDIS_URL ? 'yes' : 'no'}`);
  const infra = await startInfra();
  const abort = () => {
    console.error('interrupted: stopping the services');
    Promise.all(infra.services.map((service) => service.stop())).finally(() => process.exit(130));
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    const setupStart = performance.now();
    const drivers = await createDrivers(infra);
    const tokens = await Promise.all(Array.from({ length: PRINCIPALS }, () => infra.mint(randomUUID(), 'ADMIN')));
    await pool(drivers, 32, (driver) => must(infra.routerUrl, driver.token, `mutation { goOnline { id } }`));
    console.log(`setup: ${DRIVERS} drivers online, ${PRINCIPALS} follower tokens in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

    const updater = new Updater(drivers, UPDATES_VIA === 'router' ? infra.routerUrl : infra.driversUrl);
    await updater.pace(KEEP_ALIVE_INTERVAL_MS);
    // Every driver has a fix before anyone subscribes, so each subscription opens with it.
    await new Promise((resolve) => setTimeout(resolve, KEEP_ALIVE_INTERVAL_MS));
    const reports: PhaseReport[] = [];
    reports.push(await runPhase('router', infra.routerUrl, infra, drivers, tokens, updater));
    // The drivers subgraph alone cannot answer `user { name }` (accounts owns it): no baseline for --federated.
    if (!flags['no-baseline'] && !flags.federated) reports.push(await runPhase('baseline: straight to drivers', infra.driversUrl, infra, drivers, tokens, updater));
    await updater.stop();
    console.log(JSON.stringify(reports, null, 2));
    if (updater.examples.size > 0) console.log('update errors, first of each:', Object.fromEntries(updater.examples));
    printSummary(reports);
  } finally {
    await Promise.all(infra.services.map((service) => service.stop()));
    await cleanRedis(infra.database);
    await infra.database.dispose();
  }
}

function printSummary(reports: PhaseReport[]) {
  const rows = reports.map((r) => [
    r.phase,
    `${r.latencyFromAckMs.p50} / ${r.latencyFromAckMs.p99}`,
    `${r.latencyFromSendMs.p50} / ${r.latencyFromSendMs.p99}`,
    `${r.expected} / ${r.received}`,
    `${r.lost} / ${r.misrouted}`,
    String(r.peakRssMb.router ?? '-'),
    String(r.peakRssMb.drivers ?? '-'),
  ]);
  const header = ['phase', 'p50/p99 from ack (ms)', 'p50/p99 from send (ms)', 'expected / received', 'lost / misrouted', 'router RSS (MB)', 'drivers RSS (MB)'];
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}

if (!raiseOpenFileLimit(SUBSCRIBERS + 2_000)) {
  try {
    await main();
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
