/**
 * A router with the persisted-operations edge feature, for tests/e2e/persisted-operations.test.ts until
 * router/router.ts lists the feature: the same parts router.ts assembles (its supergraph snapshot, edge
 * pipeline, HTTP edge, fast path, Apollo Server with the edge's plugin), with authentication,
 * persisted operations and operation limits on the edge, and Apollo Server's APQ cache in Redis when
 * REDIS_URL is set (through the manifest, as router.ts will wire it).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloGateway } from '@apollo/gateway';
import { createTokenVerifier, principalFromAuthorization } from '../../platform/auth.ts';
import type { ServiceConfig } from '../../platform/config.ts';
import { createRequestContext, requestIdFrom, traceContextFrom } from '../../platform/context.ts';
import { asHttpError } from '../../platform/errors.ts';
import { createFormatError } from '../../platform/graphql.ts';
import { createHttpClient } from '../../platform/http-client.ts';
import type { Logger } from '../../platform/logger.ts';
import { createServiceMetrics } from '../../platform/metrics.ts';
import { closeRedis, createRedis, redisNamespace } from '../../platform/redis.ts';
import { requestShapePlugin } from '../../platform/request-shape.ts';
import { startHttpService, type HttpService } from '../../platform/server.ts';
import { memoryStringCache, redisStringCache } from '../../router/apq-cache.ts';
import { edgeApolloPlugin, type EdgeContext } from '../../router/edge/apollo.ts';
import { authenticationFeature } from '../../router/edge/features/authentication.ts';
import { operationLimitsFeature } from '../../router/edge/features/operation-limits.ts';
import { persistedOperationsFeature, type ManifestSource, type PersistedOperationsFeature, type PersistedOperationsPolicy } from '../../router/edge/features/persisted-operations.ts';
import { createHttpEdge } from '../../router/edge/http.ts';
import { EdgePipeline } from '../../router/edge/pipeline.ts';
import { analyse, createPassthrough, type Passthrough } from '../../router/passthrough.ts';
import { ForwardingDataSource, type RouterContext } from '../../router/subgraph-data-source.ts';
import { trackSupergraph } from '../../router/supergraph.ts';

export interface PersistedRouter {
  readonly url: string;
  readonly persisted: PersistedOperationsFeature;
  readonly passthrough: Passthrough['stats'];
  /** Documents the warm step analysed for the fast path. */
  readonly warmed: string[];
  stop(): Promise<void>;
}

export async function startPersistedRouter(config: ServiceConfig, options: { policy: PersistedOperationsPolicy; manifests: ManifestSource[]; logger: Logger; apqPrefix?: string }): Promise<PersistedRouter> {
  const { logger } = options;
  const sdl = readFileSync(config.supergraphPath, 'utf8');
  const upstream = createHttpClient();
  const urlOverrides: Record<string, string> = { ...config.subgraphUrls };
  const supergraph = trackSupergraph({ urlOverrides, dataSource: (url) => new ForwardingDataSource(url, upstream) });
  supergraph.load(sdl);
  const gateway = new ApolloGateway({
    logger,
    supergraphSdl: sdl,
    buildService: ({ name, url }) => new ForwardingDataSource(urlOverrides[name.toLowerCase()] ?? url!, upstream),
  });
  const verify = createTokenVerifier({ jwksUrl: config.jwt.jwksUrl, issuer: config.jwt.issuer, audience: config.jwt.audience });
  const metrics = createServiceMetrics('router', { processMetrics: false });
  const warmed: string[] = [];

  // The wiring router.ts gets (see the report of issue 13).
  const persisted = persistedOperationsFeature({
    manifests: options.manifests,
    policy: options.policy,
    logger,
    warm: (operation) => {
      edge.warm(operation.body);
      if (operation.type !== 'subscription') analyse(supergraph.current(), operation.body, operation.name);
      warmed.push(operation.name);
    },
  });
  const limits = operationLimitsFeature({ ...config.operationLimits, production: config.production, supergraph: supergraph.current });
  const edge = new EdgePipeline({ features: [authenticationFeature(verify), persisted, limits], snapshot: supergraph.current, maxTokens: limits.maxTokens, logger });
  void persisted.warm();
  const passthrough = createPassthrough({ snapshot: supergraph.current, verify, client: upstream, logger, metrics });
  const httpEdge = createHttpEdge({ pipeline: edge, fastPath: passthrough.handle, trustProxy: false });

  const redis = createRedis(config.redis, logger, 'router');
  const apqCache = redis ? redisStringCache(redis, { prefix: `smartline:router:${options.apqPrefix ?? redisNamespace(config)}:`, logger }) : memoryStringCache();
  const apollo = new ApolloServer<RouterContext & EdgeContext>({
    gateway,
    formatError: createFormatError({ production: false, logger }),
    plugins: [edgeApolloPlugin(edge), requestShapePlugin<RouterContext & EdgeContext>()],
    persistedQueries: { cache: persisted.apqCache(apqCache), ttl: 3600 },
    stopOnTerminationSignals: false,
    logger,
  });
  const context = async (req: IncomingMessage): Promise<RouterContext & EdgeContext> => {
    const edgeRequest = httpEdge.admittedFor(req);
    const edgeConnection = edgeRequest?.connection ?? httpEdge.connectionOf(req);
    const principal = edgeRequest ? edgeRequest.connection.principal : await principalFromAuthorization(req.headers.authorization, verify).catch(asHttpError);
    const requestContext = createRequestContext({ requestId: edgeRequest?.requestId ?? requestIdFrom(req.headers), trace: traceContextFrom(req.headers), logger, authorization: req.headers.authorization, principal });
    const replay = passthrough.replayFor(req);
    return Object.assign(requestContext, { edgeConnection, edgeRequest }, replay ? { replay } : {});
  };
  const http: HttpService = await startHttpService({
    name: 'router',
    host: '127.0.0.1',
    port: 0,
    logger,
    apollo,
    context,
    readiness: {},
    corsOrigins: [],
    shutdownTimeoutMs: 2000,
    metrics,
    publicMetrics: false,
    beforeGraphQL: httpEdge.handle,
    onStopped: [async () => upstream.close(), async () => closeRedis(redis)],
  });
  return {
    url: http.url,
    persisted,
    passthrough: passthrough.stats,
    warmed,
    async stop() {
      persisted.close();
      await http.stop();
    },
  };
}
