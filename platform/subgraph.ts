import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { DocumentNode } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { Counter } from 'prom-client';
import { createTokenVerifier, principalFromAuthorization, type Principal, type TokenVerifier } from './auth.ts';
import type { ServiceConfig, SubgraphName } from './config.ts';
import { deadlineFrom, requestContextFactory, requestIdFrom, traceContextFrom, type RequestContext } from './context.ts';
import { openDatabase, type Database, type EntityManager, type MigrationEntry } from './db.ts';
import { asHttpError, deadlineExceeded } from './errors.ts';
import type { DemoCity } from './demo-city.ts';
import { createFastExecution } from './fast-execution.ts';
import { createFormatError } from './graphql.ts';
import { createLogger, type Logger } from './logger.ts';
import { closeRedis, createRedis, redisNamespace, type Redis } from './redis.ts';
import { createServiceMetrics } from './metrics.ts';
import { createPubSub, type PubSub } from './pubsub.ts';
import { createShield, isService, type IRules } from './rules.ts';
import { createInputGuard } from './input-guard.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';
import { checkGraphQLRequestShape, requestShapePlugin } from './request-shape.ts';
import { createEventBus, createOutboxEntity, isBackgroundWork, withEventMigrations, type ConsumerTuning, type EventBus } from './events/index.ts';
import { loadServiceTokenSecret, principalFromServiceHeader, SERVICE_TOKEN_HEADER } from './service-auth.ts';
import { attachSubscriptionServer, CloseCodes, type SubscriptionMeta, type SubscriptionServer } from './subscription-server.ts';
import { sendJson, startHttpService, type HttpService, type RouteHandler } from './server.ts';

export type { GraphQLResolverMap };

/** The context every subgraph resolver receives: the request's own EntityManager plus the subgraph's extras. */
export type SubgraphContext<TExtras extends object = {}> = RequestContext & { readonly em: EntityManager } & TExtras;

/** What a running subgraph hands its definition: everything process-wide, owned by the subgraph's runner. */
export interface SubgraphRuntime {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly db: Database;
  readonly redis: Redis | undefined;
  /** Fan-out between this subgraph's replicas (Redis pub/sub, or in-process in embedded mode). */
  readonly pubsub: PubSub;
  /** Domain events: the transactional outbox of this subgraph and consumers of any subgraph's stream (platform/events). */
  readonly events: EventBus;
}

export interface SubgraphDefinition<TExtras extends object = {}> {
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<any>;
  /** graphql-shield rules; anything not listed is denied. */
  permissions: IRules;
  /** Per-request additions to the context: one DataLoader per entity type, domain services. */
  contextExtras(em: EntityManager, logger: Logger): TExtras;
  routes?: Record<string, RouteHandler>;
  /** Replaces the JWKS-over-HTTP verifier (accounts verifies with the keys it holds). */
  verifyToken?: TokenVerifier;
  onStopped?: Array<() => Promise<void>>;
}

/** A subgraph as a module: its storage and how to define its schema once storage is open. */
export interface SubgraphSetup {
  readonly name: SubgraphName;
  readonly entities: any[];
  readonly migrations: MigrationEntry[];
  define(runtime: SubgraphRuntime): Promise<SubgraphDefinition<any>>;
  /** Seeds this subgraph's part of the demo city; idempotent (embedded mode runs it on every start). */
  seedDemo?(runtime: SubgraphRuntime, city: DemoCity): Promise<void>;
}

export interface RunningSubgraph {
  readonly name: SubgraphName;
  readonly url: string;
  readonly port: number;
  readonly db: Database;
  readonly redis: Redis | undefined;
  readonly http: HttpService;
  readonly runtime: SubgraphRuntime;
  /** Where this subgraph's metrics are scraped when METRICS_PORT is set (platform/metrics-server.ts). */
  readonly metricsUrl: string | undefined;
  stop(): Promise<void>;
}

export interface StartSubgraphOptions {
  logger?: Logger;
  /** Counts every SQL statement sent for requests (tests); the event relay's and consumers' own statements are left out. */
  onStatement?: (sql: string) => void;
  /** Event consumer tuning (tests shorten the retry delay). */
  events?: ConsumerTuning;
  /** Node process metrics in /metrics; on when this subgraph is the only service in its process. */
  processMetrics?: boolean;
}

/**
 * Opens a subgraph's database as the subgraph runs on it: its entities and the outbox, its migrations
 * followed by the platform's event tables, all applied.
 */
export function openSubgraphDatabase(
  setup: Pick<SubgraphSetup, 'name' | 'entities' | 'migrations'>,
  config: ServiceConfig,
  options: { logger: Logger; outboxEntity?: ReturnType<typeof createOutboxEntity>; onStatement?: (sql: string) => void },
): Promise<Database> {
  return openDatabase({
    schema: setup.name,
    entities: [...setup.entities, options.outboxEntity ?? createOutboxEntity()],
    migrations: withEventMigrations(setup.migrations),
    databaseUrl: config.databaseUrl,
    poolMax: config.databasePoolMax,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    dataDir: config.dataDir,
    logger: options.logger,
    onStatement: options.onStatement,
  });
}

/**
 * Starts one subgraph: opens its database (migrations applied), its Redis client, builds the
 * federated schema behind graphql-shield, and serves it with health endpoints.
 */
export async function startSubgraph(setup: SubgraphSetup, config: ServiceConfig, options: StartSubgraphOptions = {}): Promise<RunningSubgraph> {
  const logger = options.logger ?? createLogger(config);
  const metrics = createServiceMetrics(setup.name, { processMetrics: options.processMetrics ?? false });
  const outboxEntity = createOutboxEntity();
  const db = await openSubgraphDatabase(setup, config, {
    logger,
    outboxEntity,
    onStatement: (sql) => {
      metrics.sqlStatements.inc();
      if (!isBackgroundWork()) options.onStatement?.(sql);
    },
  });
  const redis = createRedis(config.redis, logger, setup.name);
  const pubsub = createPubSub(redis, logger);
  const events = createEventBus({
    source: setup.name,
    db,
    outboxEntity,
    redis,
    namespace: redisNamespace(config),
    logger,
    outboxPollMs: config.events.outboxPollMs,
    registry: metrics.registry,
    consumers: options.events,
  });
  const runtime: SubgraphRuntime = { config, logger, db, redis, pubsub, events };
  try {
    const serviceTokenSecret = loadServiceTokenSecret(config, logger);
    const definition = await setup.define(runtime);
    await events.start();
    const verify = definition.verifyToken ?? createTokenVerifier({ jwksUrl: config.jwt.jwksUrl, issuer: config.jwt.issuer, audience: config.jwt.audience });
    // Every argument is checked (control characters, lengths, finite numbers) before permissions and resolvers.
    const schema = applyMiddleware(
      buildSubgraphSchema({ typeDefs: definition.typeDefs, resolvers: definition.resolvers }),
      createInputGuard(),
      createShield(config.production ? withServiceOnlyFederationSdl(definition.permissions) : definition.permissions),
    );

    const formatError = createFormatError({ production: config.production, logger });
    const apollo = new ApolloServer<SubgraphContext<any>>({
      schema,
      // In production only a service token may introspect (requestShapePlugin's mayIntrospect): Apollo's
      // switch is for everyone or no one, so it stays on and the plugin decides per caller.
      introspection: true,
      includeStacktraceInErrorResponses: !config.production,
      hideSchemaDetailsFromClientErrors: config.production,
      persistedQueries: false, // the router sends whole documents; nothing else should call a subgraph
      // A variable that does not coerce (a DateTime out of range) is the client's BAD_USER_INPUT: answered
      // 200 like any GraphQL error, so the router's gateway passes it on instead of failing on a 400.
      status400ForVariableCoercionErrors: false,
      formatError,
      // No @cacheControl hints anywhere: the default cache-control plugin would only wrap every field resolver.
      plugins: [
        ApolloServerPluginLandingPageDisabled(),
        ApolloServerPluginInlineTraceDisabled(),
        ApolloServerPluginCacheControlDisabled(),
        requestShapePlugin<SubgraphContext<any>>({ mayIntrospect: config.production ? (context) => context.principal?.role === 'SERVICE' : undefined }),
      ],
      stopOnTerminationSignals: false, // platform/lifecycle.ts drains and stops in order
      logger,
    });

    const buildExtras = (requestLogger: Logger) => {
      const em = db.fork();
      return { em, ...definition.contextExtras(em, requestLogger) };
    };
    // The extras' names, from one build now: each becomes a lazy getter of every request's context.
    const newContext = requestContextFactory(buildExtras, Object.keys(buildExtras(logger)));
    const contextFor = (principal: Principal | undefined, meta: SubscriptionMeta & { deadline?: number }) => newContext({ ...meta, logger, principal });
    // Another subgraph calling directly carries a service token (the router never forwards that header
    // from clients); everyone else an access token, or nothing.
    const principalOf = async (serviceToken: string | string[] | undefined, authorization: string | undefined) =>
      serviceToken ? principalFromServiceHeader(serviceToken, { target: setup.name, secret: serviceTokenSecret }) : principalFromAuthorization(authorization, verify);
    const context = async (req: IncomingMessage) => {
      // The router's deadline (x-request-deadline) has passed: nobody waits for this answer any more.
      const deadline = deadlineFrom(req.headers);
      if (deadline !== undefined && deadline <= Date.now()) asHttpError(deadlineExceeded());
      const authorization = req.headers.authorization;
      const principal = await principalOf(req.headers[SERVICE_TOKEN_HEADER], authorization).catch(asHttpError);
      return contextFor(principal, { requestId: requestIdFrom(req.headers), trace: traceContextFrom(req.headers), authorization, deadline });
    };

    let subscriptions: SubscriptionServer | undefined;
    const attachSubscriptions = (server: HttpServer) => {
      if (!schema.getSubscriptionType()) return;
      subscriptions = attachSubscriptionServer({ server, schema, logger, verify, production: config.production, createContext: contextFor });
      // graphql-ws is for the router's subscriptions only (queries and mutations there are refused).
    };

    const fastExecutions = new Counter({
      name: 'smartline_subgraph_fast_execution_requests_total',
      help: "GraphQL requests by who answered them: the subgraph's fast path (executed) or Apollo Server (declined).",
      labelNames: ['outcome'],
      registers: [metrics.registry],
    });
    const fastExecution = config.subgraphFastExecution
      ? createFastExecution({
          schema,
          introspection: !config.production,
          includeStacktrace: !config.production,
          formatError,
          context,
          onOutcome: (outcome) => fastExecutions.inc({ outcome }),
        })
      : undefined;

    // A body whose shape is wrong (operationName, persisted-query hash, variables too deep) is answered
    // here, before the fast path or Apollo Server reads it. Text bodies (not JSON) are Apollo Server's.
    const beforeGraphQL = async (req: IncomingMessage, res: Parameters<NonNullable<typeof fastExecution>>[1], body: unknown): Promise<boolean> => {
      if (body !== null && typeof body === 'object') {
        const refusal = checkGraphQLRequestShape(body);
        if (refusal) {
          sendJson(res, refusal.status, { errors: [{ message: refusal.message, extensions: { code: refusal.code } }] });
          return true;
        }
      }
      return fastExecution ? fastExecution(req, res, body) : false;
    };

    let metricsServer: MetricsServer | undefined;
    if (config.metrics.port !== undefined) {
      metricsServer = await startMetricsServer({ service: setup.name, registry: metrics.registry, host: config.host, port: config.metrics.port, logger });
    }

    const http = await startHttpService({
      name: setup.name,
      host: config.host,
      port: config.port,
      logger,
      apollo,
      context,
      routes: definition.routes,
      beforeGraphQL,
      readiness: {
        database: () => db.ping(),
        ...(redis ? { redis: async () => void (await redis.ping()) } : {}),
      },
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      onHttpServer: attachSubscriptions,
      metrics,
      publicMetrics: config.metrics.onMainPort,
      onDraining: [async () => subscriptions?.close(CloseCodes.GOING_AWAY)],
      // Consumers stop first: their handlers may use what the definition's own hooks close.
      onStopped: [() => events.stop(), ...(definition.onStopped ?? []), () => pubsub.close(), () => closeRedis(redis), () => db.close(), async () => metricsServer?.stop()],
    }).catch(async (error: unknown) => {
      await metricsServer?.stop();
      throw error;
    });
    return { name: setup.name, url: http.url, port: http.port, db, redis, http, runtime, metricsUrl: metricsServer?.url, stop: () => http.stop() };
  } catch (error) {
    await events.stop();
    await pubsub.close();
    await closeRedis(redis);
    await db.close();
    throw error;
  }
}

/**
 * The permissions of a subgraph in production: `_service` (its SDL, the schema in full, @inaccessible
 * fields included) for service tokens only. The router never asks for it at runtime (the supergraph is
 * composed offline from the SDL files), so no caller of ours loses anything.
 */
function withServiceOnlyFederationSdl(permissions: IRules): IRules {
  const rules = permissions as Record<string, unknown>;
  const query = rules.Query;
  if (query === undefined) return { ...rules, Query: { _service: isService } } as IRules;
  // A map of field rules, or one rule for the whole type (which then stays every other field's).
  const fields = Object.getPrototypeOf(query) === Object.prototype ? (query as Record<string, unknown>) : { '*': query };
  return { ...rules, Query: { ...fields, _service: isService } } as IRules;
}
