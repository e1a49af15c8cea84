import { loadConfig, SUBGRAPH_NAMES, type ServiceConfig, type SubgraphName } from '../../platform/config.ts';
import { createLogger, type Logger } from '../../platform/logger.ts';
import { streamKey, streamMarkKey, type ConsumerTuning } from '../../platform/events/index.ts';
import { createRedis, redisNamespace, scanKeys } from '../../platform/redis.ts';
import { driverKeys } from '../../subgraphs/drivers/live/keys.ts';
import { unlinkKeys } from './redis-env.ts';
import { startSubgraph, type RunningSubgraph, type SubgraphSetup } from '../../platform/subgraph.ts';
import { startRouter, type RunningRouter } from '../../router/router.ts';
import { SUBGRAPHS } from '../../subgraphs/index.ts';
import { createAdminIn } from '../../bin/create-admin.ts';
import { graphql, type GraphQLClientOptions, type GraphQLResult } from './client.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { seedFromTemplates } from './pglite-templates.ts';

export interface StackOptions {
  /** Which subgraphs to run (default: all five). accounts always runs: everyone needs its JWKS. */
  subgraphs?: SubgraphName[];
  /** Start the router in front of them (default true). */
  router?: boolean;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Event consumer tuning for every subgraph (e.g. a short retry delay). */
  events?: ConsumerTuning;
  /** Replaces a subgraph's setup (e.g. pricing with a test clock). */
  setups?: Partial<Record<SubgraphName, SubgraphSetup>>;
  /** Where every service logs (default: the quiet logger of TEST_LOG_LEVEL); a test that explains its failures keeps their logs. */
  logger?: Logger;
}

export interface TestUser {
  id: string;
  phone: string;
  name: string;
  role: 'RIDER' | 'DRIVER' | 'ADMIN';
  password: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * The whole supergraph in this process on real servers: a fresh database on the real Postgres
 * (DATABASE_URL) or embedded PGlite when none is configured, Redis when REDIS_URL is set, every
 * subgraph and the router on port 0. Counts every SQL statement across all subgraphs.
 */
export class Stack {
  readonly database: TestDatabase;
  readonly subgraphs: Partial<Record<SubgraphName, RunningSubgraph>>;
  readonly router: RunningRouter | undefined;
  readonly env: Record<string, string>;
  readonly #statements: { count: number };
  readonly #launch: SubgraphLauncher | undefined;
  readonly #replicas: RunningSubgraph[] = [];

  constructor(parts: { database: TestDatabase; subgraphs: Partial<Record<SubgraphName, RunningSubgraph>>; router: RunningRouter | undefined; env: Record<string, string>; statements: { count: number }; launch?: SubgraphLauncher }) {
    this.database = parts.database;
    this.subgraphs = parts.subgraphs;
    this.router = parts.router;
    this.env = parts.env;
    this.#statements = parts.statements;
    this.#launch = parts.launch;
  }

  /** Another replica of `name` on a port of its own (same database, Redis and secrets), stopped with the stack. */
  async startReplica(name: SubgraphName): Promise<RunningSubgraph> {
    if (!this.#launch) throw new Error('this stack cannot start replicas');
    const replica = await this.#launch(name, 0);
    this.#replicas.push(replica);
    return replica;
  }

  /**
   * Stops `name` (its sockets close, as when a replica dies), runs `meanwhile` (the world goes on: other
   * replicas write), then starts it again on the same port, where the router and other subgraphs reach it.
   */
  async restart(name: SubgraphName, meanwhile: () => Promise<void> = async () => {}): Promise<RunningSubgraph> {
    if (!this.#launch) throw new Error('this stack cannot restart subgraphs');
    const running = this.subgraph(name);
    await running.stop();
    await meanwhile();
    const restarted = await this.#launch(name, running.port);
    this.subgraphs[name] = restarted;
    return restarted;
  }

  get routerUrl(): string {
    if (!this.router) throw new Error('this stack runs no router');
    return this.router.url;
  }

  subgraph(name: SubgraphName): RunningSubgraph {
    const running = this.subgraphs[name];
    if (!running) throw new Error(`this stack does not run ${name}`);
    return running;
  }

  /** SQL statements sent by all subgraphs since start (or since the last reset). */
  statementCount(): number {
    return this.#statements.count;
  }

  resetStatementCount() {
    this.#statements.count = 0;
  }

  config(service: 'router' | SubgraphName): ServiceConfig {
    return loadConfig(service, this.env);
  }

  /** A GraphQL request through the router. */
  query<T = any>(query: string, variables?: Record<string, unknown>, options?: GraphQLClientOptions): Promise<GraphQLResult<T>> {
    return graphql<T>(this.routerUrl, query, variables, options);
  }

  /** A GraphQL request straight to one subgraph, bypassing the router. */
  querySubgraph<T = any>(name: SubgraphName, query: string, variables?: Record<string, unknown>, options?: GraphQLClientOptions): Promise<GraphQLResult<T>> {
    return graphql<T>(this.subgraph(name).url, query, variables, options);
  }

  #sequence = 0;

  /** Signs up a fresh user through the router and returns their tokens. */
  async signUp(role: 'RIDER' | 'DRIVER', name = `${role === 'RIDER' ? 'Rider' : 'Driver'} ${this.#sequence + 1}`): Promise<TestUser> {
    const phone = this.#nextPhone();
    const password = 'correct-horse-battery';
    const result = await this.query(
      `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id name role } } }`,
      { input: { phone, password, name, role } },
    );
    if (!result.body.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(result.body.errors)}`);
    const { accessToken, refreshToken, user } = result.body.data.signUp;
    return { id: user.id, name: user.name, role: user.role, phone, password, accessToken, refreshToken };
  }

  /** Creates an admin with the operator command's code path, then logs in through the router. */
  async admin(): Promise<TestUser> {
    const phone = this.#nextPhone();
    const password = 'admin-password-123';
    const created = await createAdminIn(this.subgraph('accounts').db, { phone, name: 'Test Admin', password });
    const result = await this.query(`mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken refreshToken } }`, { phone, password });
    if (!result.body.data?.logIn) throw new Error(`admin logIn failed: ${JSON.stringify(result.body.errors)}`);
    return { id: created.id, name: created.name, role: 'ADMIN', phone, password, ...result.body.data.logIn };
  }

  #nextPhone() {
    this.#sequence += 1;
    return `+2010${String(process.pid % 10_000).padStart(4, '0')}${String(this.#sequence).padStart(4, '0')}`;
  }

  async stop() {
    await this.router?.stop();
    await Promise.all([...Object.values(this.subgraphs), ...this.#replicas].map((running) => running?.stop()));
    await deleteStackKeys(this.env);
    await this.database.dispose();
  }

  async [Symbol.asyncDispose]() {
    await this.stop();
  }
}

/** Starts one more process-less instance of a subgraph of the stack, on `port` (0: any). */
type SubgraphLauncher = (name: SubgraphName, port: number) => Promise<RunningSubgraph>;

/** Where a stack's services find a subgraph it does not run: the discard port, on which nothing listens. */
export const UNREACHABLE_URL = 'http://127.0.0.1:9/graphql';

/** The environment of every service a test starts: its own database, free ports, quiet logs. */
export function testEnvironment(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATA_DIR: database.dataDir,
    SHUTDOWN_TIMEOUT_MS: '2000',
    DATABASE_POOL_MAX: '4',
    // Tests sign up and log in hundreds of users from one address: the rate limits' own tests turn them on.
    RATE_LIMITS: 'false',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...extra,
  };
  if (!database.databaseUrl) delete env.DATABASE_URL;
  return env;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const database = await createTestDatabase();
  const statements = { count: 0 };
  const wanted = new Set<SubgraphName>(['accounts', ...(options.subgraphs ?? SUBGRAPH_NAMES)]);
  const env = testEnvironment(database, options.env);
  const subgraphs: Partial<Record<SubgraphName, RunningSubgraph>> = {};
  const logger = options.logger ?? createLogger(loadConfig('router', env));
  const onStatement = () => {
    statements.count += 1;
  };
  // Subgraphs start in parallel on port 0, so none knows another's URL when its config is read. They
  // share this table instead, filled as each one listens: service clients read it at every call. A
  // subgraph the stack does not run is unreachable (a closed port: SERVICE_UNAVAILABLE at once), never
  // a server that happens to listen on its default port (a developer's `npm start`).
  const subgraphUrls: Partial<Record<SubgraphName, string>> = Object.fromEntries(SUBGRAPH_NAMES.filter((name) => !wanted.has(name)).map((name) => [name, UNREACHABLE_URL]));
  const configFor = (name: SubgraphName, port?: number): ServiceConfig => Object.freeze({ ...loadConfig(name, port === undefined ? env : { ...env, PORT: String(port) }), subgraphUrls });
  const launch: SubgraphLauncher = (name, port) => startSubgraph(options.setups?.[name] ?? SUBGRAPHS[name], configFor(name, port), { logger: logger.child({ service: name }), onStatement, events: options.events });
  const start = async (name: SubgraphName) => {
    const running = await startSubgraph(options.setups?.[name] ?? SUBGRAPHS[name], configFor(name), { logger: logger.child({ service: name }), onStatement, events: options.events });
    subgraphs[name] = running;
    subgraphUrls[name] = running.url;
    env[`${name.toUpperCase()}_URL`] = running.url;
    return running;
  };
  try {
    if (!database.databaseUrl) await seedFromTemplates(database.dataDir, [...wanted].map((name) => options.setups?.[name] ?? SUBGRAPHS[name]));
    const accounts = await start('accounts');
    env.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
    await Promise.all([...wanted].filter((name) => name !== 'accounts').map(start));
    const router = options.router === false ? undefined : await startRouter(loadConfig('router', env), { logger: logger.child({ service: 'router' }) });
    return new Stack({ database, subgraphs, router, env, statements, launch });
  } catch (error) {
    await Promise.allSettled(Object.values(subgraphs).map((running) => running?.stop()));
    await database.dispose();
    throw error;
  }
}

/** A stack's event streams and drivers' live keys (its own namespace) are removed with it: test runs leave nothing behind in a shared Redis. */
async function deleteStackKeys(env: Record<string, string>) {
  const config = loadConfig('accounts', env);
  const redis = createRedis(config.redis, createLogger({ ...config, logLevel: 'silent' }), 'tests-cleanup');
  if (!redis) return;
  try {
    const namespace = redisNamespace(config);
    // Each stream and its mark (several slots on a cluster: one UNLINK each there).
    await unlinkKeys(redis, SUBGRAPH_NAMES.flatMap((source) => [streamKey(namespace, source), streamMarkKey(streamKey(namespace, source))]));
    // Drivers' keys lie in many slots (a bucket of drivers, a trip, the geo sets each): found by SCAN on every master.
    for (const pattern of driverKeys(namespace).patterns) for await (const keys of scanKeys(redis, pattern)) await unlinkKeys(redis, keys);
  } finally {
    redis.disconnect();
  }
}
