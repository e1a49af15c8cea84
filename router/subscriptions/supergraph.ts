import type { ApolloGateway, GraphQLDataSource } from '@apollo/gateway';
import type { Schema } from '@apollo/federation-internals';
import type { QueryPlanner } from '@apollo/query-planner';
import type { GraphQLSchema } from 'graphql';
import type { RequestContext } from '../../platform/context.ts';

/**
 * Everything the subscription engine needs from the supergraph the gateway currently serves. A new
 * object after every supergraph (re)load: operations planned against one snapshot never mix with
 * another's planner or data sources.
 */
export interface SupergraphSnapshot {
  /** Increases with every (re)load; part of the dedup key, so a reload never joins an older upstream. */
  readonly generation: number;
  /** The API schema as graphql-js (validation, variable coercion, operation context). */
  readonly schema: GraphQLSchema;
  /** The API schema as federation-internals (planning and result shaping). */
  readonly apiSchema: Schema;
  /** The supergraph schema as graphql-js (entity representations, data rewrites). */
  readonly supergraphSchema: GraphQLSchema;
  readonly queryPlanner: QueryPlanner;
  /** The gateway's own data sources, by subgraph name: entity fetches go through them exactly as a query's would. */
  readonly dataSources: Readonly<Record<string, GraphQLDataSource<RequestContext>>>;
  /** The HTTP URL each subgraph is reached at (after the router's overrides), by subgraph name. */
  readonly urls: Readonly<Record<string, string>>;
}

/**
 * What @apollo/gateway 2.14 keeps on the instance (TypeScript-private, plain fields at run time;
 * see `updateWithSupergraphSdl` / `updateWithSchemaAndNotify` in node_modules/@apollo/gateway/dist/index.js).
 * This file is the only place that reaches into them.
 */
interface GatewayInternals {
  schema?: GraphQLSchema;
  apiSchema?: Schema;
  supergraphSchema?: GraphQLSchema;
  queryPlanner?: QueryPlanner;
  serviceMap: Record<string, { url?: string; dataSource: GraphQLDataSource<RequestContext> }>;
}

/**
 * Follows the gateway's supergraph: the snapshot is rebuilt whenever the gateway (re)loads its
 * supergraph SDL (`onSchemaLoadOrUpdate` fires after all of the fields above are set).
 */
export function followGateway(gateway: ApolloGateway): { current(): SupergraphSnapshot; dispose(): void } {
  const internals = gateway as unknown as GatewayInternals;
  let generation = 0;
  let snapshot: SupergraphSnapshot | undefined;
  const unsubscribe = gateway.onSchemaLoadOrUpdate(() => {
    snapshot = undefined;
  });
  return {
    current() {
      snapshot ??= take(internals, ++generation);
      return snapshot;
    },
    dispose: unsubscribe,
  };
}

function take(gateway: GatewayInternals, generation: number): SupergraphSnapshot {
  const { schema, apiSchema, supergraphSchema, queryPlanner, serviceMap } = gateway;
  if (!schema || !apiSchema || !supergraphSchema || !queryPlanner || !serviceMap) {
    throw new Error('The gateway has not loaded a supergraph yet (or @apollo/gateway changed its internals: see router/subscriptions/supergraph.ts).');
  }
  const dataSources: Record<string, GraphQLDataSource<RequestContext>> = {};
  const urls: Record<string, string> = {};
  for (const [name, service] of Object.entries(serviceMap)) {
    dataSources[name] = service.dataSource;
    // The router's ForwardingDataSource carries the effective URL (its overrides applied); fall back to the supergraph's.
    const url = (service.dataSource as { url?: string }).url ?? service.url;
    if (url) urls[name] = url;
  }
  return Object.freeze({ generation, schema, apiSchema, supergraphSchema, queryPlanner, dataSources: Object.freeze(dataSources), urls: Object.freeze(urls) });
}
