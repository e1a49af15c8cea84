import type http from 'node:http';
import type { ApolloGateway } from '@apollo/gateway';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from '../../platform/logger.ts';
import type { ServiceMetrics } from '../../platform/metrics.ts';
import type { EdgePipeline } from '../edge/pipeline.ts';
import type { SupergraphSnapshot } from '../supergraph.ts';

/** Why the router stops: apps reconnect elsewhere (shutdown, close 1001) or shortly (restart, close 1012). */
export type StopReason = 'shutdown' | 'restart';

/** What the router hands a feature that lives beside Apollo Server on its HTTP server. */
export interface RouterHost {
  readonly server: http.Server;
  /** Not yet loaded when `attach` runs; loaded before the server listens. */
  readonly gateway: ApolloGateway;
  /** What the gateway serves now (schema, planner, data sources): one tracker for the whole router. */
  readonly supergraph: () => SupergraphSnapshot;
  /** The edge pipeline every operation passes (router/edge/). */
  readonly edge: EdgePipeline;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

/**
 * A router feature outside Apollo Server's request pipeline (WebSockets): one factory per feature,
 * returning these optional lifecycle hooks, listed in router.ts beside the Apollo plugins.
 */
export interface RouterFeature {
  readonly name: string;
  /** Called once with the router's HTTP server, before it listens. */
  attach?(host: RouterHost): void;
  /** First shutdown steps, before HTTP drains (stop accepting sockets, close them with 1001/1012). */
  onDraining?(reason: StopReason): Promise<void>;
  /** After HTTP has drained and Apollo Server has stopped (close upstream connections). */
  onStopped?(): Promise<void>;
}
