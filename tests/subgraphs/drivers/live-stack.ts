import { EventEmitter, once } from 'node:events';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig, type ServiceConfig } from '../../../platform/config.ts';
import { createEventBus, createOutboxEntity, streamKey, type AnyEventContract, type EventData, type EventOf, type ManagedEventBus } from '../../../platform/events/index.ts';
import { createLogger } from '../../../platform/logger.ts';
import { loadServiceTokenSecret, mintServiceToken, SERVICE_TOKEN_HEADER } from '../../../platform/service-auth.ts';
import { startSubgraph, type RunningSubgraph } from '../../../platform/subgraph.ts';
import { startRouter, type RunningRouter } from '../../../router/router.ts';
import { createAdminIn } from '../../../bin/create-admin.ts';
import { SUBGRAPHS } from '../../../subgraphs/index.ts';
import { createDriversSubgraph, liveLocationsOf, type DriversSubgraphOptions, type LiveLocations } from '../../../subgraphs/drivers/index.ts';
import type { Clock, Scheduler } from '../../../subgraphs/drivers/live/engine.ts';
import { driverKeys, redisNamespace } from '../../../subgraphs/drivers/live/keys.ts';
import { dataOf, graphql, type GraphQLResult } from '../../support/client.ts';
import { testEnvironment, UNREACHABLE_URL } from '../../support/stack.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { deleteKeysMatching, REDIS_CONFIGURED, testRedis } from '../../support/redis-env.ts';
import type { Redis } from '../../../platform/redis.ts';

export const REDIS = REDIS_CONFIGURED;

/** The server clock, moved by hand: `advance(ms)` is time passing, without waiting for it. */
export class TestClock implements Clock {
  offsetMs = 0;
  now() {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number) {
    this.offsetMs += ms;
  }
}

/** Ticks only when told to; knows how many repeating tasks are alive, and says when one is cancelled. */
export class ManualScheduler implements Scheduler {
  readonly #tasks = new Set<() => void>();
  readonly #events = new EventEmitter();

  every(_intervalMs: number, task: () => void) {
    const entry = () => task();
    this.#tasks.add(entry);
    return () => {
      if (this.#tasks.delete(entry)) this.#events.emit('cancelled');
    };
  }

  tick() {
    for (const task of [...this.#tasks]) task();
  }

  get active(): number {
    return this.#tasks.size;
  }

  /** Resolves once no repeating task is left. */
  async idle(): Promise<void> {
    while (this.#tasks.size > 0) await once(this.#events, 'cancelled');
  }
}

export interface TestPrincipal {
  id: string;
  role: string;
  token: string;
}

export interface OnlineDriver extends TestPrincipal {
  driverId: string;
  plate: string;
}

const REGISTER = `mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`;
const APPROVE = `mutation($id: ID!) { approveDriver(driverId: $id) { id } }`;

let sequence = 0;

/**
 * accounts + drivers (with live-location options of the test's choosing) + the router, on a fresh
 * database, with Redis when REDIS_URL is set. Counts the drivers subgraph's SQL statements, and removes
 * the stack's Redis keys when stopped.
 */
export class LiveStack {
  readonly database: TestDatabase;
  readonly accounts: RunningSubgraph;
  readonly drivers: RunningSubgraph;
  /** Started only when asked for (startLiveStack's `pricing`). */
  readonly pricing: RunningSubgraph | undefined;
  readonly router: RunningRouter;
  readonly env: Record<string, string>;
  readonly live: LiveLocations;
  readonly statements: { count: number };
  readonly #clients: Client[] = [];
  readonly #buses: ManagedEventBus[] = [];
  #redis: Redis | undefined;
  #admin: TestPrincipal | undefined;

  constructor(parts: {
    database: TestDatabase;
    accounts: RunningSubgraph;
    drivers: RunningSubgraph;
    pricing?: RunningSubgraph;
    router: RunningRouter;
    env: Record<string, string>;
    statements: { count: number };
  }) {
    this.database = parts.database;
    this.accounts = parts.accounts;
    this.drivers = parts.drivers;
    this.pricing = parts.pricing;
    this.router = parts.router;
    this.env = parts.env;
    this.statements = parts.statements;
    this.live = liveLocationsOf(parts.drivers.runtime);
  }

  /** Straight to the drivers subgraph as another subgraph (trips) calls it: with a service token. */
  queryAsService<T = any>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResult<T>> {
    const config = this.config('drivers');
    const token = mintServiceToken({ caller: 'trips', target: 'drivers', secret: loadServiceTokenSecret(config, createLogger(config)) });
    return graphql<T>(this.drivers.url, query, variables, { headers: { [SERVICE_TOKEN_HEADER]: token } });
  }

  #bus(source: 'trips' | 'pricing'): ManagedEventBus {
    const config = this.config('drivers');
    if (REDIS) this.#redis ??= testRedis('live-stack');
    // Its outbox and processed-event records live in drivers' schema (a stand-in has no database of its own).
    const bus = createEventBus({
      source,
      db: this.drivers.db,
      outboxEntity: createOutboxEntity(),
      redis: this.#redis,
      namespace: redisNamespace(config),
      logger: createLogger(config),
      outboxPollMs: 1_000,
      schema: 'drivers',
    });
    this.#buses.push(bus);
    return bus;
  }

  #trips: ManagedEventBus | undefined;

  /** Publishes on trips' stream, as the trips subgraph would after a commit. */
  publishTripEvent<C extends AnyEventContract>(contract: C, data: EventData<C> & { tripId: string }): Promise<EventOf<C>> {
    this.#trips ??= this.#bus('trips');
    return this.#trips.publish({ contract, key: data.tripId, data });
  }

  /**
   * A consumer of `source`'s stream standing in for another subgraph (pricing reads SupplySnapshot):
   * the events it receives, in order. Its outbox is drivers' own, which drivers never writes to.
   */
  async listen<C extends AnyEventContract>(source: 'drivers', contracts: C[]): Promise<Array<EventOf<C>>> {
    const received: Array<EventOf<C>> = [];
    const bus = this.#bus('pricing');
    bus.consume({ name: `test-listener-${++sequence}`, source, contracts, handle: async (event) => void received.push(event) });
    await bus.start();
    return received;
  }

  config(service: 'drivers' | 'accounts' | 'router'): ServiceConfig {
    return loadConfig(service, this.env);
  }

  /** Through the router. */
  query<T = any>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResult<T>> {
    return graphql<T>(this.router.url, query, variables, { token });
  }

  /** Straight to the drivers subgraph. */
  queryDrivers<T = any>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResult<T>> {
    return graphql<T>(this.drivers.url, query, variables, { token });
  }

  async signUp(role: 'RIDER' | 'DRIVER'): Promise<TestPrincipal> {
    sequence += 1;
    const phone = `+2012${String(process.pid % 10_000).padStart(4, '0')}${String(sequence).padStart(4, '0')}`;
    const result = await graphql(this.accounts.url, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id role } } }`, {
      input: { phone, password: 'correct-horse-battery', name: `${role} ${sequence}`, role },
    });
    const { accessToken, user } = dataOf<any>(result).signUp;
    return { id: user.id, role: user.role, token: accessToken };
  }

  async admin(): Promise<TestPrincipal> {
    if (this.#admin) return this.#admin;
    sequence += 1;
    const phone = `+2013${String(process.pid % 10_000).padStart(4, '0')}${String(sequence).padStart(4, '0')}`;
    const created = await createAdminIn(this.accounts.db, { phone, name: 'Live Admin', password: 'admin-password-123' });
    const result = await graphql(this.accounts.url, `mutation($p: String!, $w: String!) { logIn(phone: $p, password: $w) { accessToken } }`, { p: phone, w: 'admin-password-123' });
    this.#admin = { id: created.id, role: 'ADMIN', token: dataOf<any>(result).logIn.accessToken };
    return this.#admin;
  }

  /** A driver with a registered profile, approved unless told otherwise; not online yet. */
  async driver(options: { approved?: boolean; type?: string } = {}): Promise<OnlineDriver> {
    const user = await this.signUp('DRIVER');
    const plate = `LIV ${process.pid % 10_000}-${++sequence}`;
    const registered = dataOf<any>(await this.queryDrivers(REGISTER, { v: { type: options.type ?? 'ECONOMY', make: 'Toyota', model: 'Corolla', color: 'White', plate, year: 2021 } }, user.token)).registerDriver;
    if (options.approved !== false) dataOf(await this.queryDrivers(APPROVE, { id: registered.id }, (await this.admin()).token));
    return { ...user, driverId: registered.id, plate };
  }

  /** An approved driver who went online. */
  async onlineDriver(options: { type?: string } = {}): Promise<OnlineDriver> {
    const driver = await this.driver(options);
    dataOf(await this.queryDrivers(`mutation { goOnline { id } }`, {}, driver.token));
    return driver;
  }

  /** A graphql-ws client of the drivers subgraph (or of `url`), disposed with the stack. */
  wsClient(options: { token?: string; url?: string; onClosed?: (event: unknown) => void } = {}): Client {
    const client = createClient({
      url: (options.url ?? this.drivers.url).replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: options.token ? { authorization: `Bearer ${options.token}` } : undefined,
      retryAttempts: 0,
      lazy: true,
      on: options.onClosed ? { closed: options.onClosed } : undefined,
    });
    this.#clients.push(client);
    return client;
  }

  async stop() {
    await Promise.all(this.#clients.map((client) => client.dispose()));
    await Promise.all(this.#buses.map((bus) => bus.stop()));
    this.#redis?.disconnect();
    await this.router.stop();
    await this.pricing?.stop();
    await this.drivers.stop();
    await this.accounts.stop();
    if (REDIS) {
      await deleteNamespace(redisNamespace(this.config('drivers')));
      await deleteKeys(`${streamKey(redisNamespace(this.config('drivers')), 'drivers').replace(/:drivers$/, '')}:*`);
    }
    await this.database.dispose();
  }
}

/** Polls `condition` every 20 ms until it holds (then returns its value) or `timeoutMs` passes (then fails, naming `what`). */
export async function eventually<T>(what: string, condition: () => Promise<T | false | null | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Removes every key of a drivers namespace, and no other namespace's (test stacks leave nothing behind in a shared Redis). */
export async function deleteNamespace(namespace: string) {
  for (const pattern of driverKeys(namespace).patterns) await deleteKeys(pattern);
}

/** Removes every key matching a SCAN pattern. */
function deleteKeys(pattern: string) {
  return deleteKeysMatching(pattern);
}

export interface LiveStackOptions {
  /** Extra environment (DRIVER_COOLDOWN_MS, ...). */
  env?: Record<string, string>;
  /** Also run pricing (fareEstimates, whose quotes drivers extends). */
  pricing?: boolean;
}

export async function startLiveStack(options: DriversSubgraphOptions = {}, stackOptions: LiveStackOptions = {}): Promise<LiveStack> {
  const database = await createTestDatabase();
  // No wallet here: goOnline's commission check finds it unreachable and lets the driver through.
  const env = testEnvironment(database, { WALLET_URL: UNREACHABLE_URL, ...stackOptions.env });
  const logger = createLogger(loadConfig('router', env));
  const statements = { count: 0 };
  const started: RunningSubgraph[] = [];
  try {
    const accounts = await startSubgraph(SUBGRAPHS.accounts, loadConfig('accounts', env), { logger: logger.child({ service: 'accounts' }) });
    started.push(accounts);
    env.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
    const drivers = await startSubgraph(createDriversSubgraph(options), loadConfig('drivers', env), {
      logger: logger.child({ service: 'drivers' }),
      onStatement: () => {
        statements.count += 1;
      },
    });
    started.push(drivers);
    const pricing = stackOptions.pricing ? await startSubgraph(SUBGRAPHS.pricing, loadConfig('pricing', env), { logger: logger.child({ service: 'pricing' }) }) : undefined;
    if (pricing) started.push(pricing);
    env.ACCOUNTS_URL = accounts.url;
    env.DRIVERS_URL = drivers.url;
    if (pricing) env.PRICING_URL = pricing.url;
    const router = await startRouter(loadConfig('router', env), { logger: logger.child({ service: 'router' }) });
    return new LiveStack({ database, accounts, drivers, pricing, router, env, statements });
  } catch (error) {
    await Promise.allSettled(started.map((running) => running.stop()));
    await database.dispose();
    throw error;
  }
}

/** A GraphQL DateTime `secondsAgo` before `now`. */
export const isoAgo = (now: number, secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();

/** A point `northM` meters north and `eastM` meters east of `origin` (flat-earth: fine under a few km). */
export function offset(origin: { lat: number; lng: number }, northM: number, eastM: number) {
  return { lat: origin.lat + northM / 111_195, lng: origin.lng + eastM / (111_195 * Math.cos((origin.lat * Math.PI) / 180)) };
}
