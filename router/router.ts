import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloGateway } from '@apollo/gateway';
import { createTokenVerifier, principalFromAuthorization } from '../platform/auth.ts';
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
import { followGateway } from './subscriptions/supergraph.ts';
import { createHttpClient } from '../platform/http-client.ts';
import { forwardedRoutes } from './forwarded-routes.ts';

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
}

export interface RunningRouter {
  readonly url: string;
  readonly port: number;
  readonly http: HttpService;
  /** The subscription engine's counters; undefined when subscriptions are off. */
  readonly subscriptions: Pick<SubscriptionsFeature, 'stats' | 'waitFor'> | undefined;
  /** How many requests the passthrough fast path answered; undefined when it is off. */
  readonly passthrough: Passthrough['stats'] | undefined;
  /** Re-reads the supergraph file and swaps the schema without dropping traffic. */
  reloadSupergraph(): void;
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
  /** Each subgraph's URL as the gateway resolved it (overrides applied), for the forwarded routes. */
  const serviceUrls = new Map<string, string>();

  const gateway = new ApolloGateway({
    logger,
    async supergraphSdl({ update }) {
      updateSupergraph = update;
      return { supergraphSdl: readSupergraph() };
    },
    buildService: ({ name, url }) => {
      const resolved = urlOverrides[name.toLowerCase()] ?? urlOverrides[name] ?? url!;
      serviceUrls.set(name.toLowerCase(), resolved);
      return new ForwardingDataSource(resolved, upstream);
    },
  });

  const verify = createTokenVerifier({ jwksUrl: options.jwksUrl ?? config.jwt.jwksUrl, issuer: config.jwt.issuer, audience: config.jwt.audience });

  /** Router features, in order. A feature that is off is simply not in this list. */
  const plugins: ApolloServerPlugin<RequestContext>[] = [requestIdPlugin(), landingPagePlugin({ production: config.production })];
  /** Features beside Apollo Server on the same HTTP server, in order; off means absent. */
  const subscriptions = options.subscriptions === false ? undefined : subscriptionsFeature(options.subscriptions === true ? {} : options.subscriptions);
  const features: RouterFeature[] = [...(subscriptions ? [subscriptions] : [])];

  const formatError = createFormatError({ production: config.production, logger });
  const metrics = createServiceMetrics('router', { processMetrics: false });
  const supergraph = followGateway(gateway);
  const passthrough = !(options.passthrough ?? config.routerPassthrough) ? undefined : createPassthrough({ snapshot: supergraph.current, verify, client: upstream, logger, metrics });
  let stopReason: StopReason = 'shutdown';

  const apollo = new ApolloServer<RouterContext>({
    gateway,
    introspection: !config.production,
    includeStacktraceInErrorResponses: !config.production,
    formatError,
    plugins,
    stopOnTerminationSignals: false, // platform/lifecycle.ts drains and stops in order
    logger,
  });

  const context = async (req: IncomingMessage): Promise<RouterContext> => {
    const authorization = req.headers.authorization;
    const principal = await principalFromAuthorization(authorization, verify).catch(asHttpError);
    const requestContext: RouterContext = createRequestContext({ requestId: requestIdFrom(req.headers), trace: traceContextFrom(req.headers), logger, authorization, principal });
    const replay = passthrough?.replayFor(req);
    return replay ? Object.assign(requestContext, { replay }) : requestContext;
  };

  const http = await startHttpService({
    name: 'router',
    host: config.host,
    port: config.port,
    logger,
    apollo,
    context,
    readiness: {},
    routes: forwardedRoutes((subgraph) => serviceUrls.get(subgraph), logger),
    corsOrigins: config.corsOrigins,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    metrics,
    beforeGraphQL: passthrough?.handle,
    onHttpServer: (server) => {
      for (const feature of features) feature.attach?.({ server, gateway, supergraph: supergraph.current, verify, logger, metrics, formatError });
    },
    onDraining: features.flatMap((feature) => (feature.onDraining ? [() => feature.onDraining!(stopReason)] : [])),
    onStopped: [
      ...features.flatMap((feature) => (feature.onStopped ? [() => feature.onStopped!()] : [])),
      async () => {
        supergraph.dispose();
        upstream.close();
      },
    ],
  });

  return {
    url: http.url,
    port: http.port,
    http,
    subscriptions,
    passthrough: passthrough?.stats,
    reloadSupergraph() {
      updateSupergraph?.(readSupergraph());
      logger.info({ file: config.supergraphPath }, 'supergraph reloaded');
    },
    stop(stopOptions) {
      if (stopOptions?.restart) stopReason = 'restart';
      return http.stop();
    },
  };
}
