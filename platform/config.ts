import { z } from 'zod';

export const SUBGRAPH_NAMES = ['accounts', 'drivers', 'trips', 'pricing', 'wallet'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];
export type ServiceName = 'router' | SubgraphName;
export const SERVICE_NAMES: readonly ServiceName[] = ['router', ...SUBGRAPH_NAMES];

/** Default ports: the router on 4000, subgraphs on 4001–4005 in SUBGRAPH_NAMES order. */
export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = Object.freeze({
  router: 4000,
  accounts: 4001,
  drivers: 4002,
  trips: 4003,
  pricing: 4004,
  wallet: 4005,
});

const port = z.coerce.number().int().min(0).max(65535);
/** CORS origins outside production when CORS_ORIGINS is unset: the local router's Sandbox and Apollo Studio. */
export const DEVELOPMENT_CORS_ORIGINS: readonly string[] = ['http://localhost:4000', 'https://studio.apollographql.com'];
const url = z.url();
const list = z.string().transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));
/** `host:port,host:port` (an IPv6 host in brackets: `[::1]:7000`); at least one. */
const redisNodes = list.transform((items, context) => {
  const nodes: RedisNode[] = [];
  for (const item of items) {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(item);
    const port = match ? Number(match[3]) : 0;
    if (!match || port < 1 || port > 65535) {
      context.addIssue({ code: 'custom', message: `expected host:port, got ${item}` });
      return z.NEVER;
    }
    nodes.push({ host: match[1] ?? match[2], port });
  }
  if (nodes.length === 0) {
    context.addIssue({ code: 'custom', message: 'expected at least one host:port' });
    return z.NEVER;
  }
  return nodes;
});

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/**
 * Which Redis a process uses (platform/redis.ts createRedis): one server (REDIS_URL), a Redis Cluster
 * (REDIS_CLUSTER_NODES) or a master found through Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME).
 */
export type RedisConnection =
  | { readonly kind: 'standalone'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisNode[]; readonly password: string | undefined }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly RedisNode[]; readonly name: string; readonly password: string | undefined; readonly sentinelPassword: string | undefined };

/**
 * Every environment variable any SmartLine process reads, with its default.
 * Documented one by one in `.env.example`; a test keeps the two in sync.
 */
const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: port.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Postgres for subgraphs; each subgraph uses its own schema in it. Absent: embedded PGlite under DATA_DIR. */
  DATABASE_URL: url.optional(),
  /** Connections per subgraph process (each subgraph has its own pool). */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
  /** Postgres cancels a statement that runs longer (SQLSTATE 57014, answered as SERVICE_UNAVAILABLE/DEADLINE_EXCEEDED); 0: no limit. Not for embedded PGlite. */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(5_000),
  /** Redis for hot state and fan-out. Absent (and no cluster or sentinels): in-process stand-ins (embedded mode only). */
  REDIS_URL: url.optional(),
  /** A Redis Cluster instead of REDIS_URL: some of its nodes, `host:port,host:port` (ioredis discovers the rest). */
  REDIS_CLUSTER_NODES: redisNodes.optional(),
  /** Redis behind Sentinel instead of REDIS_URL: the sentinels, `host:port,...`, and the master's name. */
  REDIS_SENTINELS: redisNodes.optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  /** AUTH of the cluster's nodes or of the Sentinel-managed master and replicas (with REDIS_URL the URL carries it). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** AUTH of the sentinels themselves. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  DATA_DIR: z.string().default('.data'),
  /** Where subgraphs and the router fetch the signing keys; defaults to the accounts service's JWKS. */
  JWKS_URL: url.optional(),
  JWT_ISSUER: z.string().min(1).default('smartline-accounts'),
  JWT_AUDIENCE: z.string().min(1).default('smartline'),
  /** accounts only: PKCS#8 PEM of the ES256 signing key. Absent outside production: generated under DATA_DIR. */
  JWT_PRIVATE_KEY: z.string().optional(),
  JWT_KEY_ID: z.string().optional(),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(900),
  REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(3600).default(30 * 24 * 3600),
  /** pricing and trips: HMAC secret that signs quotes. Absent outside production: generated under DATA_DIR. */
  QUOTE_SIGNING_SECRET: z.string().min(32).optional(),
  /** router: the supergraph SDL to serve. */
  SUPERGRAPH_PATH: z.string().default('schema/supergraph.graphql'),
  ACCOUNTS_URL: url.optional(),
  DRIVERS_URL: url.optional(),
  TRIPS_URL: url.optional(),
  PRICING_URL: url.optional(),
  WALLET_URL: url.optional(),
  /** router: the single-subgraph fast path (router/passthrough.ts); `false` sends every request through Apollo Server. */
  ROUTER_PASSTHROUGH: z.enum(['true', 'false']).default('true'),
  /** router: the edge's protective features (operation limits, execution bounds, rate limits, metrics); false keeps authentication only (benchmarks compare the two). */
  ROUTER_EDGE: z.enum(['true', 'false']).default('true'),
  /** router: who must name operations by manifest id (schema/persisted-queries*.json): partners (default), all callers, or nobody (off). */
  PERSISTED_OPERATIONS: z.enum(['off', 'partners', 'all']).default('partners'),
  /** router: how often the manifests are checked for changes and reloaded (0: only on SIGHUP). */
  PERSISTED_OPERATIONS_WATCH_MS: z.coerce.number().int().min(0).default(5_000),
  /** router: take the client's address from the first X-Forwarded-For hop (only behind a proxy or ingress that sets it). */
  TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  /** router: rate limits (router/edge/features/rate-limits.ts), counted in Redis when REDIS_URL is set; `false` leaves the feature out. */
  RATE_LIMITS: z.enum(['true', 'false']).default('true'),
  /** router: points a signed-in user may spend per minute (an operation costs 1, a mutation RATE_LIMIT_MUTATION_COST). */
  RATE_LIMIT_USER_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /** router: points anonymous callers may spend per minute, per client address. */
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /**
   * router: how much of a per-minute budget (user, address, API key) a replica may count on its own before
   * it adds its count to Redis, in percent of the budget (0: every operation asks Redis). A budget whose
   * share is under 2 points is counted in Redis operation by operation.
   */
  RATE_LIMIT_BUDGET_SYNC_PERCENT: z.coerce.number().min(0).max(10).default(2),
  /** router: what a mutation costs of the per-minute budget (a query or subscription costs 1). */
  RATE_LIMIT_MUTATION_COST: z.coerce.number().int().min(1).max(100).default(2),
  /** router: consecutive failed log-ins for one phone number before it is locked out. */
  RATE_LIMIT_LOG_IN_FAILURES: z.coerce.number().int().min(1).default(5),
  /** router: failed log-ins from one address within an hour before the address is locked out of log-in. */
  RATE_LIMIT_LOG_IN_IP_FAILURES: z.coerce.number().int().min(1).default(50),
  /** router: how long a lockout lasts. */
  RATE_LIMIT_LOG_IN_LOCKOUT_SECONDS: z.coerce.number().int().min(1).default(900),
  /** router: the wait after the 2nd consecutive failure for a phone number, doubled after each further one; 0 turns backoff off. */
  RATE_LIMIT_LOG_IN_BACKOFF_SECONDS: z.coerce.number().int().min(0).default(1),
  /** router: log-in attempts per minute from one address, failed or not. */
  RATE_LIMIT_LOG_IN_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  /** router: sign-ups per hour from one address. */
  RATE_LIMIT_SIGN_UP_PER_HOUR: z.coerce.number().int().min(1).default(30),
  /** router: refreshSession calls per minute from one address. */
  RATE_LIMIT_REFRESH_PER_MINUTE: z.coerce.number().int().min(1).default(300),
  /** router: open graphql-ws connections per signed-in user. */
  RATE_LIMIT_WS_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).default(10),
  /** router: open graphql-ws connections per client address. */
  RATE_LIMIT_WS_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).default(500),
  /** router: graphql-ws connection attempts per second per client address. */
  RATE_LIMIT_WS_CONNECTS_PER_SECOND: z.coerce.number().int().min(1).default(20),
  /** router: operation limits (router/edge/features/operation-limits.ts), refused before planning with BAD_USER_INPUT and a reason. */
  ROUTER_MAX_DEPTH: z.coerce.number().int().min(1).max(1_000).default(12),
  ROUTER_MAX_ALIASES: z.coerce.number().int().min(0).max(10_000).default(30),
  ROUTER_MAX_ROOT_FIELDS: z.coerce.number().int().min(1).max(10_000).default(20),
  ROUTER_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(10_000).default(50),
  ROUTER_MAX_TOKENS: z.coerce.number().int().min(100).max(1_000_000).default(1_000),
  /** router: add each operation's cost to the answer's `extensions.cost` (for app developers); never in production. */
  ROUTER_COST_IN_EXTENSIONS: z.enum(['true', 'false']).default('true'),
  /** router: cost budgets per role, `ROLE=budget` comma-separated, over the defaults (router/edge/cost.ts). */
  ROUTER_COST_BUDGETS: list.default([]),
  /** router: the largest subgraph answer the router reads, in bytes. */
  ROUTER_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1_024).default(4 * 1024 * 1024),
  /** router: each request's deadline from its arrival, passed to subgraphs as x-request-deadline. */
  ROUTER_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  /** subgraphs: plain query/mutation POSTs executed without Apollo Server's pipeline (platform/fast-execution.ts); `false` sends every request through it. */
  SUBGRAPH_FAST_EXECUTION: z.enum(['true', 'false']).default('true'),
  /** router: comma-separated origins allowed by CORS. Default: none in production, the local router and Apollo Studio otherwise. */
  CORS_ORIGINS: list.optional(),
  /** all services: a separate internal port for GET /metrics. In production /metrics is served only there; unset outside production it stays on PORT. */
  METRICS_PORT: port.optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  /** Subgraph-to-subgraph calls (trips → drivers): HMAC secret of internal service tokens. Absent outside production: generated under DATA_DIR. */
  SERVICE_TOKEN_SECRET: z.string().min(32).optional(),
  /** How often each subgraph's outbox relay looks for unpublished events (it is also woken on every commit). */
  OUTBOX_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  /** The city's clock for time-of-day prices (IANA zone); everything stored stays UTC. */
  CITY_TIMEZONE: z.string().min(1).default('Africa/Cairo'),
  /** pricing: how long a quote stays bookable. */
  QUOTE_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(600),
  /** pricing: how often surge is recomputed per H3 cell. */
  SURGE_INTERVAL_MS: z.coerce.number().int().min(100).default(60_000),
  /** drivers: how often the count of available drivers per H3 cell is published (surge supply). */
  SUPPLY_SNAPSHOT_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
  /** trips: how long drivers have to answer an offer before the next round. */
  DISPATCH_OFFER_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /** trips: search radius of each dispatch round, in metres, comma-separated. */
  DISPATCH_RADII_M: list.default(['3000', '5000', '8000']),
  /** trips: drivers offered a trip at once in each round. */
  DISPATCH_OFFER_COUNT: z.coerce.number().int().min(1).max(20).default(5),
  /** trips: after assignment, how long a rider may cancel without a fee. */
  CANCELLATION_GRACE_MS: z.coerce.number().int().min(0).default(120_000),
  /** drivers: how long a driver rests in COOLDOWN after a trip before being offered again. */
  DRIVER_COOLDOWN_MS: z.coerce.number().int().min(0).default(60_000),
  /** wallet: how far a driver's wallet may go below zero for commission on cash trips, in minor units (20000 = 200.00 EGP). */
  WALLET_DRIVER_DEBT_LIMIT_MINOR: z.string().regex(/^\d{1,12}$/, 'must be a whole number of minor units (at most 12 digits)').default('20000'),
  /** wallet: time between runs of the wallet's background maintenance (orphan fare holds, idempotency keys, drivers' receivables); 0 turns it off. */
  WALLET_MAINTENANCE_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  /** wallet: how old a fare hold must be before the maintenance may void it as an orphan (its trip never booked). */
  WALLET_ORPHAN_HOLD_GRACE_MS: z.coerce.number().int().min(60_000).default(600_000),
  /** wallet: the payment gateway for deposits and payouts. `sandbox` (default outside production) is a stand-in gateway with a hosted checkout page; production refuses it. `none`: deposits and payouts answer SERVICE_UNAVAILABLE. */
  PAYMENT_PROVIDER: z.enum(['sandbox', 'none']).optional(),
  /** wallet: the secret the provider's webhooks are signed with (HMAC-SHA256). Absent outside production: generated under DATA_DIR. */
  PAYMENT_WEBHOOK_SECRET: z.string().min(32).optional(),
  /** wallet: the platform's public address (the router), where the sandbox's checkout links point. */
  PUBLIC_URL: z.string().url().default('http://localhost:4000'),
  /** wallet: where the sandbox provider delivers its webhooks; default the wallet's own /webhooks/payments. */
  PAYMENT_WEBHOOK_URL: z.string().url().optional(),
  /** wallet: more money movements (deposits started, withdrawals requested) than this in an hour flags the account. */
  FRAUD_VELOCITY_PER_HOUR: z.coerce.number().int().min(1).max(10_000).default(20),
  /** wallet: a withdrawal of at least this percentage of the last 24 h's deposits flags the account. */
  FRAUD_DEPOSIT_WITHDRAW_PERCENT: z.coerce.number().int().min(1).max(100).default(90),
  /** wallet: this many declined deposits in 24 h flags the account. */
  FRAUD_FAILED_DEPOSITS_PER_DAY: z.coerce.number().int().min(1).max(1_000).default(5),
  /** wallet: whether an open fraud flag blocks the account's withdrawals until an admin clears it. */
  FRAUD_BLOCK_WITHDRAWALS: z.enum(['true', 'false']).default('true'),
  /** `npm start` only: seed the demo city (and its demo admin). Development only: production refuses `true`. */
  DEMO_DATA: z.enum(['true', 'false']).optional(),
  /** `npm start` only, development: move simulated demo drivers that accept offers and drive rides. */
  DEMO_SIMULATION: z.enum(['true', 'false']).default('true'),
  /** `npm start` only: how many of the demo drivers the simulation moves (the rest are left to people). */
  DEMO_SIMULATED_DRIVERS: z.coerce.number().int().min(0).max(1000).default(24),
});

export type Environment = z.infer<typeof environmentSchema>;

export interface ServiceConfig {
  readonly service: ServiceName;
  readonly env: Environment['NODE_ENV'];
  readonly production: boolean;
  readonly host: string;
  readonly port: number;
  readonly logLevel: Environment['LOG_LEVEL'];
  readonly databaseUrl: string | undefined;
  readonly databasePoolMax: number;
  /** Postgres statement_timeout of every pooled connection (0: none). */
  readonly databaseStatementTimeoutMs: number;
  /** REDIS_URL as given (a single server); `redis` says which Redis, if any, whatever its kind. */
  readonly redisUrl: string | undefined;
  /** Undefined: no Redis (embedded mode's in-process stand-ins). */
  readonly redis: RedisConnection | undefined;
  readonly dataDir: string;
  readonly jwt: {
    readonly issuer: string;
    readonly audience: string;
    readonly jwksUrl: string | undefined;
    readonly privateKeyPem: string | undefined;
    readonly keyId: string | undefined;
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
  };
  readonly quoteSigningSecret: string | undefined;
  readonly supergraphPath: string;
  /** Subgraph URL overrides for the router; those absent come from the supergraph file. */
  readonly subgraphUrls: Readonly<Partial<Record<SubgraphName, string>>>;
  readonly corsOrigins: readonly string[];
  /**
   * Where Prometheus scrapes: `port` is METRICS_PORT (a listener of its own, platform/metrics-server.ts);
   * `onMainPort` says whether GET /metrics is also answered on PORT, which is only ever so outside
   * production with no METRICS_PORT (production keeps it off the public port in every case).
   */
  readonly metrics: { readonly port: number | undefined; readonly onMainPort: boolean };
  readonly routerPassthrough: boolean;
  /** Client addresses (rate limits, logs) from the first X-Forwarded-For hop. */
  readonly trustProxy: boolean;
  /** The edge's protective features on (false: authentication only; for benchmarks). */
  readonly routerEdge: boolean;
  /** Who must send manifest ids, and how often the manifests are re-read (ms; 0: SIGHUP only). */
  readonly persistedOperations: { readonly policy: 'off' | 'partners' | 'all'; readonly watchMs: number };
  readonly subgraphFastExecution: boolean;
  readonly shutdownTimeoutMs: number;
  readonly serviceTokenSecret: string | undefined;
  readonly events: { readonly outboxPollMs: number };
  readonly cityTimeZone: string;
  readonly pricing: { readonly quoteTtlSeconds: number; readonly surgeIntervalMs: number };
  readonly drivers: { readonly supplySnapshotIntervalMs: number; readonly cooldownMs: number };
  /** The commission debt a driver's wallet may carry (minor units); it also keeps a driver offline once reached. */
  readonly wallet: {
    readonly driverDebtLimitMinor: bigint;
    readonly maintenanceIntervalMs: number;
    readonly orphanHoldGraceMs: number;
    readonly paymentProvider: 'sandbox' | 'none';
    readonly paymentWebhookSecret: string | undefined;
    readonly publicUrl: string;
    readonly paymentWebhookUrl: string | undefined;
    readonly fraud: { readonly velocityPerHour: number; readonly depositThenWithdrawPercent: number; readonly failedDepositsPerDay: number; readonly blockWithdrawals: boolean };
  };
  readonly dispatch: {
    readonly offerTimeoutMs: number;
    readonly radiiM: readonly number[];
    readonly offerCount: number;
    readonly cancellationGraceMs: number;
  };
  /** The router's rate limits (router/edge/features/rate-limits.ts). */
  readonly rateLimits: RateLimitsConfig;
  /** The router's operation limits and execution bounds (router/edge/features/operation-limits.ts, execution-bounds.ts). */
  readonly operationLimits: OperationLimitsConfig;
  /** The demo city of `npm start`: never in production. */
  readonly demo: { readonly data: boolean; readonly simulation: boolean; readonly simulatedDrivers: number };
}

/** The router's rate limits: budgets per minute, log-in lockouts and WebSocket caps (router/edge/features/rate-limits.ts). */
export interface RateLimitsConfig {
  readonly enabled: boolean;
  /** Points per minute per signed-in user; an operation costs 1, a mutation `mutationCost`. */
  readonly userPerMinute: number;
  /** Points per minute per client address for anonymous callers. */
  readonly anonymousPerMinute: number;
  readonly mutationCost: number;
  /**
   * The share of a per-minute budget (percent) a replica counts on its own before adding it to Redis:
   * a caller may overspend by up to that share on each replica (rate-limits.ts PeriodicSyncStore).
   */
  readonly budgetSyncPercent: number;
  readonly logIn: {
    /** Consecutive failures for one phone number before its lockout. */
    readonly failuresPerPhone: number;
    /** Failures from one address within `failureWindowSeconds` before its lockout. */
    readonly failuresPerIp: number;
    /** How long failures are remembered (a success forgets a phone number's at once). */
    readonly failureWindowSeconds: number;
    readonly lockoutSeconds: number;
    /** The wait after a phone number's 2nd consecutive failure, doubled after each further one (0: none). */
    readonly backoffSeconds: number;
    /** Attempts per minute per address, failed or not. */
    readonly attemptsPerMinute: number;
  };
  readonly signUpPerHour: number;
  readonly refreshPerMinute: number;
  readonly ws: {
    readonly connectionsPerUser: number;
    readonly connectionsPerIp: number;
    readonly connectsPerSecond: number;
    /** How long a held connection counts at most, should its router die without giving it back. */
    readonly leaseSeconds: number;
  };
  /** A Redis call slower than this counts in the process instead (fail open). */
  readonly redisTimeoutMs: number;
}

/** The roles cost budgets are set for; a caller without a token is ANONYMOUS. */
export const COST_BUDGET_ROLES = ['ANONYMOUS', 'RIDER', 'DRIVER', 'PARTNER', 'ADMIN', 'SERVICE'] as const;
export type CostBudgetRole = (typeof COST_BUDGET_ROLES)[number];

/** The cost budgets unless ROUTER_COST_BUDGETS says otherwise: several times what any app operation costs. */
export const DEFAULT_COST_BUDGETS: Readonly<Record<CostBudgetRole, number>> = Object.freeze({ ANONYMOUS: 1_000, RIDER: 10_000, DRIVER: 10_000, PARTNER: 20_000, ADMIN: 50_000, SERVICE: 100_000 });

export interface OperationLimitsConfig {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxRootFields: number;
  readonly maxDirectives: number;
  readonly maxTokens: number;
  /** Whether answers carry `extensions.cost` (never in production). */
  readonly costInExtensions: boolean;
  readonly costBudgets: Readonly<Record<CostBudgetRole, number>>;
  readonly maxResponseBytes: number;
  readonly requestTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the configuration of one service, once, at boot. The result is frozen. */
export function loadConfig(service: ServiceName, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const parsed = environmentSchema.safeParse(pickKnown(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration for ${service}:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && service !== 'router' && !e.DATABASE_URL) {
    throw new ConfigError(`${service}: DATABASE_URL is required in production`);
  }
  if (production && service === 'accounts' && !e.JWT_PRIVATE_KEY) {
    throw new ConfigError('accounts: JWT_PRIVATE_KEY is required in production');
  }
  if (production && (service === 'pricing' || service === 'trips') && !e.QUOTE_SIGNING_SECRET) {
    throw new ConfigError(`${service}: QUOTE_SIGNING_SECRET is required in production`);
  }
  // Every subgraph checks service tokens; the router mints them (partners' API keys are exchanged with accounts).
  if (production && !e.SERVICE_TOKEN_SECRET) {
    throw new ConfigError(`${service}: SERVICE_TOKEN_SECRET is required in production`);
  }
  if (production && e.DEMO_DATA === 'true') {
    throw new ConfigError(
      `${service}: DEMO_DATA=true is refused in production: the demo city's users, its admin included, share a published password. ` +
        'Unset DEMO_DATA (production never seeds demo data) and create the first admin with `npm run create-admin` (docs/operations.md).',
    );
  }
  if (production && e.PAYMENT_PROVIDER === 'sandbox') {
    throw new ConfigError(`${service}: PAYMENT_PROVIDER=sandbox is refused in production: anyone who reaches its checkout page could pay themselves. Use PAYMENT_PROVIDER=none until a real gateway is configured.`);
  }
  const paymentProvider = e.PAYMENT_PROVIDER ?? (production ? 'none' : 'sandbox');
  const demoData = e.DEMO_DATA === undefined ? !production : e.DEMO_DATA === 'true';
  const radiiM = e.DISPATCH_RADII_M.map(Number);
  if (radiiM.length === 0 || radiiM.some((radius) => !Number.isInteger(radius) || radius <= 0 || radius > 50_000)) {
    throw new ConfigError(`Invalid configuration for ${service}:\n  DISPATCH_RADII_M: expected positive whole metres up to 50000, got ${e.DISPATCH_RADII_M.join(',')}`);
  }
  if (!isTimeZone(e.CITY_TIMEZONE)) {
    throw new ConfigError(`Invalid configuration for ${service}:\n  CITY_TIMEZONE: unknown time zone ${e.CITY_TIMEZONE}`);
  }
  const costBudgets: Record<CostBudgetRole, number> = { ...DEFAULT_COST_BUDGETS };
  for (const entry of e.ROUTER_COST_BUDGETS) {
    const [role, value] = entry.split('=').map((part) => part.trim());
    const budget = Number(value);
    if (!COST_BUDGET_ROLES.includes(role as CostBudgetRole) || !Number.isInteger(budget) || budget < 1) {
      throw new ConfigError(`Invalid configuration for ${service}:\n  ROUTER_COST_BUDGETS: expected ROLE=budget pairs (roles ${COST_BUDGET_ROLES.join(', ')}; whole budgets of at least 1), got ${entry}`);
    }
    costBudgets[role as CostBudgetRole] = budget;
  }
  const redis = redisConnection(service, e);
  const accountsUrl = e.ACCOUNTS_URL ?? `http://localhost:${DEFAULT_PORTS.accounts}/graphql`;
  return deepFreeze({
    service,
    env: e.NODE_ENV,
    production,
    host: e.HOST,
    port: e.PORT ?? DEFAULT_PORTS[service],
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    redisUrl: e.REDIS_URL,
    redis,
    dataDir: e.DATA_DIR,
    jwt: {
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      jwksUrl: e.JWKS_URL ?? new URL('/.well-known/jwks.json', accountsUrl).toString(),
      privateKeyPem: e.JWT_PRIVATE_KEY,
      keyId: e.JWT_KEY_ID,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    },
    quoteSigningSecret: e.QUOTE_SIGNING_SECRET,
    supergraphPath: e.SUPERGRAPH_PATH,
    subgraphUrls: dropUndefined({
      accounts: e.ACCOUNTS_URL,
      drivers: e.DRIVERS_URL,
      trips: e.TRIPS_URL,
      pricing: e.PRICING_URL,
      wallet: e.WALLET_URL,
    }),
    corsOrigins: e.CORS_ORIGINS ?? (production ? [] : DEVELOPMENT_CORS_ORIGINS),
    metrics: { port: e.METRICS_PORT, onMainPort: !production && e.METRICS_PORT === undefined },
    routerPassthrough: e.ROUTER_PASSTHROUGH === 'true',
    trustProxy: e.TRUST_PROXY === 'true',
    routerEdge: e.ROUTER_EDGE === 'true',
    persistedOperations: { policy: e.PERSISTED_OPERATIONS, watchMs: e.PERSISTED_OPERATIONS_WATCH_MS },
    subgraphFastExecution: e.SUBGRAPH_FAST_EXECUTION === 'true',
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    serviceTokenSecret: e.SERVICE_TOKEN_SECRET,
    events: { outboxPollMs: e.OUTBOX_POLL_MS },
    cityTimeZone: e.CITY_TIMEZONE,
    pricing: { quoteTtlSeconds: e.QUOTE_TTL_SECONDS, surgeIntervalMs: e.SURGE_INTERVAL_MS },
    drivers: { supplySnapshotIntervalMs: e.SUPPLY_SNAPSHOT_INTERVAL_MS, cooldownMs: e.DRIVER_COOLDOWN_MS },
    wallet: {
      driverDebtLimitMinor: BigInt(e.WALLET_DRIVER_DEBT_LIMIT_MINOR),
      maintenanceIntervalMs: e.WALLET_MAINTENANCE_INTERVAL_MS,
      orphanHoldGraceMs: e.WALLET_ORPHAN_HOLD_GRACE_MS,
      paymentProvider,
      paymentWebhookSecret: e.PAYMENT_WEBHOOK_SECRET,
      publicUrl: e.PUBLIC_URL,
      paymentWebhookUrl: e.PAYMENT_WEBHOOK_URL,
      fraud: {
        velocityPerHour: e.FRAUD_VELOCITY_PER_HOUR,
        depositThenWithdrawPercent: e.FRAUD_DEPOSIT_WITHDRAW_PERCENT,
        failedDepositsPerDay: e.FRAUD_FAILED_DEPOSITS_PER_DAY,
        blockWithdrawals: e.FRAUD_BLOCK_WITHDRAWALS === 'true',
      },
    },
    dispatch: {
      offerTimeoutMs: e.DISPATCH_OFFER_TIMEOUT_MS,
      radiiM,
      offerCount: e.DISPATCH_OFFER_COUNT,
      cancellationGraceMs: e.CANCELLATION_GRACE_MS,
    },
    rateLimits: {
      enabled: e.RATE_LIMITS === 'true',
      userPerMinute: e.RATE_LIMIT_USER_PER_MINUTE,
      anonymousPerMinute: e.RATE_LIMIT_ANONYMOUS_PER_MINUTE,
      mutationCost: e.RATE_LIMIT_MUTATION_COST,
      budgetSyncPercent: e.RATE_LIMIT_BUDGET_SYNC_PERCENT,
      logIn: {
        failuresPerPhone: e.RATE_LIMIT_LOG_IN_FAILURES,
        failuresPerIp: e.RATE_LIMIT_LOG_IN_IP_FAILURES,
        failureWindowSeconds: 3600,
        lockoutSeconds: e.RATE_LIMIT_LOG_IN_LOCKOUT_SECONDS,
        backoffSeconds: e.RATE_LIMIT_LOG_IN_BACKOFF_SECONDS,
        attemptsPerMinute: e.RATE_LIMIT_LOG_IN_PER_MINUTE,
      },
      signUpPerHour: e.RATE_LIMIT_SIGN_UP_PER_HOUR,
      refreshPerMinute: e.RATE_LIMIT_REFRESH_PER_MINUTE,
      ws: {
        connectionsPerUser: e.RATE_LIMIT_WS_CONNECTIONS_PER_USER,
        connectionsPerIp: e.RATE_LIMIT_WS_CONNECTIONS_PER_IP,
        connectsPerSecond: e.RATE_LIMIT_WS_CONNECTS_PER_SECOND,
        leaseSeconds: 24 * 3600,
      },
      redisTimeoutMs: 250,
    },
    operationLimits: {
      maxDepth: e.ROUTER_MAX_DEPTH,
      maxAliases: e.ROUTER_MAX_ALIASES,
      maxRootFields: e.ROUTER_MAX_ROOT_FIELDS,
      maxDirectives: e.ROUTER_MAX_DIRECTIVES,
      maxTokens: e.ROUTER_MAX_TOKENS,
      costInExtensions: e.ROUTER_COST_IN_EXTENSIONS === 'true' && e.NODE_ENV !== 'production',
      costBudgets,
      maxResponseBytes: e.ROUTER_MAX_RESPONSE_BYTES,
      requestTimeoutMs: e.ROUTER_REQUEST_TIMEOUT_MS,
    },
    demo: { data: demoData, simulation: demoData && e.DEMO_SIMULATION === 'true', simulatedDrivers: e.DEMO_SIMULATED_DRIVERS },
  });
}

/** The variable names loadConfig reads; `.env.example` must document exactly these. */
export const ENVIRONMENT_VARIABLES: readonly string[] = Object.keys(environmentSchema.shape);

/** One of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS (or none); the rest must fit the one chosen. */
function redisConnection(service: ServiceName, e: Environment): RedisConnection | undefined {
  const fail = (message: string) => {
    throw new ConfigError(`Invalid configuration for ${service}:\n  ${message}`);
  };
  const chosen = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((name) => e[name] !== undefined);
  if (chosen.length > 1) fail(`${chosen.join(', ')}: set one of them (a single server, a cluster, or sentinels), not several`);
  if (e.REDIS_SENTINEL_NAME !== undefined && e.REDIS_SENTINELS === undefined) fail('REDIS_SENTINEL_NAME: only with REDIS_SENTINELS');
  if (e.REDIS_SENTINEL_PASSWORD !== undefined && e.REDIS_SENTINELS === undefined) fail('REDIS_SENTINEL_PASSWORD: only with REDIS_SENTINELS');
  if (e.REDIS_PASSWORD !== undefined && e.REDIS_CLUSTER_NODES === undefined && e.REDIS_SENTINELS === undefined) {
    fail('REDIS_PASSWORD: only with REDIS_CLUSTER_NODES or REDIS_SENTINELS (REDIS_URL carries its own: redis://:password@host:port)');
  }
  if (e.REDIS_URL !== undefined) return { kind: 'standalone', url: e.REDIS_URL };
  if (e.REDIS_CLUSTER_NODES !== undefined) return { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES, password: e.REDIS_PASSWORD };
  if (e.REDIS_SENTINELS !== undefined) {
    if (e.REDIS_SENTINEL_NAME === undefined) fail('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the name of the master the sentinels monitor)');
    return { kind: 'sentinel', sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME!, password: e.REDIS_PASSWORD, sentinelPassword: e.REDIS_SENTINEL_PASSWORD };
  }
  return undefined;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function pickKnown(env: NodeJS.ProcessEnv): Record<string, string> {
  const known: Record<string, string> = {};
  for (const key of ENVIRONMENT_VARIABLES) {
    const value = env[key];
    if (value !== undefined && value !== '') known[key] = value;
  }
  return known;
}

function dropUndefined<T extends Record<string, string | undefined>>(record: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<Record<keyof T, string>>;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
