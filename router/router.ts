import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloGateway } from '@apollo/gateway';
import { createTokenVerifier } from '../platform/auth.ts';
import type { ServiceConfig, SubgraphName } from '../platform/config.ts';
import { createRequestContext, requestIdFrom, traceContextFrom, type RequestContext } from '../platform/context.ts';
import { createFormatError } from '../platform/graphql.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { createServiceMetrics } from '../platform/metrics.ts';
import { startHttpService, type HttpService } from '../platform/server.ts';
import { asHttpError } from '../platform/errors.ts';
import type { RouterFeature, StopReason } from './plugins/feature.ts';
import { landingPagePlugin } from './plugins/landing-page.ts';
import { requestIdPlugin } from './plugins/request-id.ts';
import { subscriptionsFeature, type SubscriptionsFeature, type SubscriptionsOptions } from './plugins/subscriptions.ts';
import { createPassthrough, type Passthrough } from './passthrough.ts';
import { ForwardingDataSource, type RouterContext } from './subgraph-data-source.ts';
import { createHttpEdge } from './edge/http.ts';
import { edgeApolloPlugin, type EdgeContext } from './edge/apollo.ts';
import { authenticationFeature } from './edge/features/authentication.ts';
import { observabilityFeature } from './edge/features/observability.ts';
import { executionBoundsFeature, executionBoundsOf } from './edge/features/execution-bounds.ts';
import { operationLimitsFeature } from './edge/features/operation-limits.ts';
import { EdgePipeline } from './edge/pipeline.ts';
import type { EdgeFeature } from './edge/types.ts';
import { assertGatewayInternals } from './gateway-internals.ts';
import { FAST_PATH_SUPPORTS } from './passthrough.ts';
import { trackSupergraph } from './supergraph.ts';
import { createHttpClient } from '../platform/http-client.ts';
import { forwardedRoutes } from './forwarded-routes.ts';
import { requestShapePlugin } from '../platform/request-shape.ts';
import { closeRedis, createRedis, redisNamespace } from '../platform/redis.ts';
import { fileURLToPath } from 'node:url';
import { DEFAULT_APQ_TTL_SECONDS, memoryStringCache, redisStringCache } from './apq-cache.ts';
import { persistedOperationsFeature, type ManifestSource } from './edge/features/persisted-operations.ts';
import { analyse } from './passthrough.ts';
import { rateLimitsFeature } from './edge/features/rate-limits.ts';
import { accountsApiKeyExchange, apiKeyBudget, apiKeysFeature, forwardedAuthorization } from './edge/features/api-keys.ts';
import { startMetricsServer } from '../platform/metrics-server.ts';
import { subgraphReadiness } from './readiness.ts';

export interface RouterOptions {
  logger?: Logger;
  /** Subgraph URL overrides by subgraph name (lower case), on top of config.subgraphUrls. */
  subgraphUrls?: Partial<Record<SubgraphName | string, string>>;
  /** Overrides config.jwt.jwksUrl (embedded mode and tests, where ports are chosen at start). */
  jwksUrl?: string;
  /** graphql-ws subscriptions on /graphql (router/subscriptions/PROTOCOL.md); default on, `false` leaves the feature out. */
  subscriptions?: boolean | SubscriptionsOptions;
  /** The single-subgraph fast path (router/passthrough.ts); default `config.routerPassthrough` (on). */
  passthrough?: boolean;
  /** The persisted-operation manifests; default `PERSISTED_MANIFESTS` (schema/, written by `npm run persisted`). */
  persistedManifests?: readonly ManifestSource[];
}

/** The manifests `npm run persisted` writes: the partners' operations and the apps'. */
export const PERSISTED_MANIFESTS: readonly ManifestSource[] = [
  { path: fileURLToPath(new URL('../schema/persisted-queries.json', import.meta.url)), clients: 'partners' },
  { path: fileURLToPath(new URL('../schema/persisted-queries.apps.json', import.meta.url)), clients: 'apps' },
];

export interface RunningRouter {
  readonly url: string;
  readonly port: number;
  readonly http: HttpService;
  /** The subscription engine's counters; undefined when subscriptions are off. */
  readonly subscriptions: Pick<SubscriptionsFeature, 'stats' | 'waitFor'> | undefined;
  /** How many requests the passthrough fast path answered; undefined when it is off. */
  readonly passthrough: Passthrough['stats'] | undefined;
  /** Operations the persisted-operation manifests hold, and how many times one was warmed (parsed and analysed ahead of use). */
  readonly persistedOperations: { readonly size: number; readonly warmed: number };
  /** Re-reads the supergraph file and swaps the schema without dropping traffic. */
  reloadSupergraph(): void;
  /** Re-reads the persisted-operation manifests (a broken file keeps the previous set); true when they were swapped. */
  reloadPersistedOperations(): boolean;
  /** Closes WebSockets (1001, or 1012 with `restart`), drains HTTP, then closes upstream connections. */
  stop(options?: { restart?: boolean }): Promise<void>;
}

/**
 * The SmartLine router: a generic federation router over any supergraph file, verifying the caller's
 * token before planning and forwarding it to every subgraph it calls.
 */
export async function startRouter(config: ServiceConfig, options: RouterOptions = {}): Promise<RunningRouter> {
  const logger = options.logger ?? createLogger(config);
  const urlOverrides: Record<string, string> = { ...config.subgraphUrls, ...options.subgraphUrls };
  const readSupergraph = () => readFileSync(config.supergraphPath, 'utf8');
  let updateSupergraph: ((sdl: string) => void) | undefined;
  const upstream = createHttpClient();
  assertGatewayInternals();

  // The router's own snapshot of the supergraph it serves (router/supergraph.ts): the gateway is handed
  // the same text, so both plan against the same schema.
  const supergraph = trackSupergraph({ urlOverrides, dataSource: (url) => new ForwardingDataSource(url, upstream) });
  supergraph.load(readSupergraph());
  const gateway = new ApolloGateway({
    logger,
    async supergraphSdl({ update }) {
      updateSupergraph = update;
      return { supergraphSdl: readSupergraph() };
    },
    buildService: ({ name, url }) => new ForwardingDataSource(urlOverrides[name.toLowerCase()] ?? urlOverrides[name] ?? url!, upstream),
  });

  const verify = createTokenVerifier({ jwksUrl: options.jwksUrl ?? config.jwt.jwksUrl, issuer: config.jwt.issuer, audience: config.jwt.audience });
  const formatError = createFormatError({ production: config.production, logger });
  const metrics = createServiceMetrics('router', { processMetrics: false });

  /**
   * The edge (router/edge/): every operation, whichever way it comes in, passes these features in this
   * order. A feature that is off is simply not in the list.
   */
  const limits = operationLimitsFeature({ ...config.operationLimits, production: config.production, supergraph: supergraph.current });
  // Rate limits count in Redis, shared by every replica; without REDIS_URL, in this process (embedded mode).
  const rateLimited = config.routerEdge && config.rateLimits.enabled;
  // Rate limits and the automatic-persisted-query cache share the router's one Redis client.
  const redis = createRedis(config.redis, logger, 'router');
  // Operations named by id from the manifests (npm run persisted); a PARTNER may run only its key's, by id.
  const persistedOperations = {
    warmed: 0,
    get size() {
      return persisted.size;
    },
  };
  const persisted = persistedOperationsFeature({
    manifests: options.persistedManifests ?? PERSISTED_MANIFESTS,
    policy: config.persistedOperations.policy,
    logger,
    watchIntervalMs: config.persistedOperations.watchMs,
    warm: (operation) => {
      persistedOperations.warmed += 1;
      edge.warm(operation.body);
      if (passthrough && operation.type !== 'subscription') analyse(supergraph.current(), operation.body, operation.name);
    },
  });
  // Partners' API keys in authentication's place (it wraps it): a key becomes the PARTNER principal, exchanged with accounts.
  const apiKeys = apiKeysFeature({ authentication: authenticationFeature(verify), exchange: accountsApiKeyExchange({ config, logger, url: () => supergraph.current().urls.accounts }), logger });
  const edgeFeatures: EdgeFeature[] = [
    apiKeys,
    persisted,
    // ROUTER_EDGE=false (benchmarks only) leaves the protective features out.
    ...(config.routerEdge
      ? [
          // After authentication (budgets are per user), before anything is parsed or planned.
          ...(rateLimited ? [rateLimitsFeature({ redis, config, logger, apiKeyBudget })] : []),
          limits,
          executionBoundsFeature({ requestTimeoutMs: config.operationLimits.requestTimeoutMs, maxResponseBytes: config.operationLimits.maxResponseBytes }),
          observabilityFeature({ registry: metrics.registry, logger }),
        ]
      : []),
  ];
  const edge = new EdgePipeline({ features: edgeFeatures, snapshot: supergraph.current, maxTokens: config.routerEdge ? limits.maxTokens : 100_000, logger });
  void persisted.warm();
  const passthrough = !(options.passthrough ?? config.routerPassthrough) ? undefined : createPassthrough({ snapshot: supergraph.current, verify, client: upstream, logger, metrics });
  // The fast path answers only when it supports every feature that needs the answering path's help.
  const fastPathAllowed = edgeFeatures.every((feature) => !feature.needsPathSupport || FAST_PATH_SUPPORTS.has(feature.name));
  const httpEdge = createHttpEdge({ pipeline: edge, fastPath: passthrough && fastPathAllowed ? passthrough.handle : undefined, trustProxy: config.trustProxy });

  /** Apollo Server plugins, in order: the edge's guard first. */
  const plugins: ApolloServerPlugin<RouterContext & EdgeContext>[] = [
    edgeApolloPlugin(edge),
    requestShapePlugin<RouterContext & EdgeContext>(),
    requestIdPlugin(),
    landingPagePlugin({ production: config.production }),
  ];
  /** Features beside Apollo Server on the same HTTP server, in order; off means absent. */
  // Each event's entity fetches get a query's bounds (deadline, answer size) while the edge is on.
  const eventBounds = config.routerEdge ? { timeoutMs: config.operationLimits.requestTimeoutMs, maxResponseBytes: config.operationLimits.maxResponseBytes } : undefined;
  const subscriptions = options.subscriptions === false ? undefined : subscriptionsFeature({ eventBounds, ...(options.subscriptions === true || options.subscriptions === undefined ? {} : options.subscriptions) });
  const features: RouterFeature[] = [...(subscriptions ? [subscriptions] : [])];
  let stopReason: StopReason = 'shutdown';

  const apollo = new ApolloServer<RouterContext & EdgeContext>({
    gateway,
    introspection: !config.production,
    includeStacktraceInErrorResponses: !config.production,
    hideSchemaDetailsFromClientErrors: config.production,
    // Automatic persisted queries, shared by every replica through Redis (in the process without it); manifest ids answer too.
    persistedQueries: { cache: persisted.apqCache(redis ? redisStringCache(redis, { prefix: `smartline:router:${redisNamespace(config)}:`, logger }) : memoryStringCache()), ttl: DEFAULT_APQ_TTL_SECONDS },
    formatError,
    plugins,
    stopOnTerminationSignals: false, // platform/lifecycle.ts drains and stops in order
    logger,
  });

  const context = async (req: IncomingMessage): Promise<RouterContext & EdgeContext> => {
    const edgeRequest = httpEdge.admittedFor(req);
    // Admitted at the edge: its authentication already ran. Otherwise the plugin admits it (GET, APQ); the
    // caller is known now (an API key exchanged), so subgraphs get the key's token; the plugin's connect reuses it.
    const edgeConnection = edgeRequest?.connection ?? httpEdge.connectionOf(req);
    if (!edgeRequest) await apiKeys.connect(edgeConnection).catch(asHttpError);
    const authorization = forwardedAuthorization(edgeConnection);
    const principal = edgeConnection.principal;
    const requestContext = createRequestContext({ requestId: edgeRequest?.requestId ?? requestIdFrom(req.headers), trace: traceContextFrom(req.headers), logger, authorization, principal });
    const replay = passthrough?.replayFor(req);
    // The execution bounds the edge set: the data sources honour them on every fetch.
    const bounds = edgeRequest && executionBoundsOf(edgeRequest);
    return Object.assign(requestContext, { edgeConnection, edgeRequest }, replay ? { replay } : {}, bounds ? { deadline: bounds.deadline, maxResponseBytes: bounds.maxResponseBytes } : {});
  };

  // Ready while it can reach at least one subgraph; degraded detail otherwise (router/readiness.ts says why).
  const readiness = subgraphReadiness({ urls: () => supergraph.current().urls, logger });
  // In production /metrics is only on METRICS_PORT, a port kept inside the cluster.
  const metricsServer = config.metrics.port === undefined ? undefined : await startMetricsServer({ service: 'router', registry: metrics.registry, host: config.host, port: config.metrics.port, logger });
  const http = await startHttpService({
    name: 'router',
    host: config.host,
    port: config.port,
    logger,
    apollo,
    context,
    readiness: { subgraphs: () => readiness.check() },
    routes: forwardedRoutes((subgraph) => supergraph.current().urls[subgraph], logger),
    corsOrigins: config.corsOrigins,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    metrics,
    publicMetrics: config.metrics.onMainPort,
    // The merged answer's cap (each subgraph's answer is capped by the data sources); off with the edge.
    maxResponseBytes: config.routerEdge ? config.operationLimits.maxResponseBytes : undefined,
    beforeGraphQL: httpEdge.handle,
    onHttpServer: (server) => {
      for (const feature of features) feature.attach?.({ server, gateway, supergraph: supergraph.current, edge, logger, metrics, formatError });
    },
    onDraining: features.flatMap((feature) => (feature.onDraining ? [() => feature.onDraining!(stopReason)] : [])),
    onStopped: [
      ...features.flatMap((feature) => (feature.onStopped ? [() => feature.onStopped!()] : [])),
      async () => upstream.close(),
      async () => readiness.close(),
      async () => persisted.close(),
      async () => closeRedis(redis),
      async () => metricsServer?.stop(),
    ],
  });

  return {
    url: http.url,
    port: http.port,
    http,
    subscriptions,
    passthrough: passthrough?.stats,
    persistedOperations,
    reloadPersistedOperations: () => persisted.reload(),
    reloadSupergraph() {
      const sdl = readSupergraph();
      supergraph.load(sdl);
      updateSupergraph?.(sdl);
      void persisted.warm();
      logger.info({ file: config.supergraphPath }, 'supergraph reloaded');
    },
    stop(stopOptions) {
      if (stopOptions?.restart) stopReason = 'restart';
      return http.stop();
    },
  };
}
