/**
 * The router's own view of the supergraph it serves, built from the supergraph text the router reads
 * (and hands the gateway): schemas, query planner and one data source per subgraph. The fast path, the
 * subscription engine and the edge pipeline plan and validate against it; nothing reads
 * @apollo/gateway's private fields. A new snapshot per (re)load: operations planned against one never
 * mix with another's planner or data sources.
 */
import type { GraphQLDataSource } from '@apollo/gateway';
import { Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import type { GraphQLSchema } from 'graphql';
import type { RequestContext } from '../platform/context.ts';

export interface SupergraphSnapshot {
  /** Increases with every (re)load; part of the subscriptions' dedup key, so a reload never joins an older upstream. */
  readonly generation: number;
  /** The API schema as graphql-js (validation, variable coercion, operation context). */
  readonly schema: GraphQLSchema;
  /** The API schema as federation-internals (planning and result shaping). */
  readonly apiSchema: Schema;
  /** The supergraph schema as graphql-js (entity representations, data rewrites). */
  readonly supergraphSchema: GraphQLSchema;
  readonly queryPlanner: QueryPlanner;
  /** A data source per subgraph, by name: entity fetches of subscriptions go through them as a query's would. */
  readonly dataSources: Readonly<Record<string, GraphQLDataSource<RequestContext>>>;
  /** The HTTP URL each subgraph is reached at (after the router's overrides), by subgraph name. */
  readonly urls: Readonly<Record<string, string>>;
}

export interface SupergraphOptions {
  /** Subgraph URL overrides, by subgraph name (either case). */
  urlOverrides: Readonly<Record<string, string>>;
  /** The router's data source for one subgraph. */
  dataSource(url: string): GraphQLDataSource<RequestContext>;
}

export interface SupergraphTracker {
  current(): SupergraphSnapshot;
  /** Builds the snapshot of new supergraph text (it becomes current); throws when the text is not a valid supergraph. */
  load(sdl: string): SupergraphSnapshot;
}

export function trackSupergraph(options: SupergraphOptions): SupergraphTracker {
  let generation = 0;
  let snapshot: SupergraphSnapshot | undefined;
  return {
    current() {
      if (!snapshot) throw new Error('No supergraph is loaded yet.');
      return snapshot;
    },
    load(sdl) {
      snapshot = buildSnapshot(sdl, ++generation, options);
      return snapshot;
    },
  };
}

/** What @apollo/gateway builds from the same text (updateWithSchemaAndNotify), with the router's URLs. */
export function buildSnapshot(sdl: string, generation: number, options: SupergraphOptions): SupergraphSnapshot {
  const supergraph = Supergraph.build(sdl);
  const apiSchema = supergraph.apiSchema();
  const dataSources: Record<string, GraphQLDataSource<RequestContext>> = {};
  const urls: Record<string, string> = {};
  for (const { name, url } of supergraph.subgraphsMetadata()) {
    const resolved = options.urlOverrides[name.toLowerCase()] ?? options.urlOverrides[name] ?? url;
    urls[name] = resolved;
    dataSources[name] = options.dataSource(resolved);
  }
  return Object.freeze({
    generation,
    schema: apiSchema.toGraphQLJSSchema(),
    apiSchema,
    supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
    queryPlanner: new QueryPlanner(supergraph),
    dataSources: Object.freeze(dataSources),
    urls: Object.freeze(urls),
  });
}
