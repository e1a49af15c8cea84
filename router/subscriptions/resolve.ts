import { executeQueryPlan, type GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import type { GraphQLFormattedError } from 'graphql';
import type { RequestContext } from '../../platform/context.ts';
import type { PreparedSubscription } from './operation.ts';

/** One event as the owning subgraph sent it (the payload of a graphql-ws `next` message). */
export interface UpstreamEvent {
  data?: Record<string, any> | null;
  errors?: readonly GraphQLFormattedError[];
  extensions?: Record<string, unknown>;
}

type GatewayRequestContext = Parameters<typeof executeQueryPlan>[2];
export type ResolvedEvent = Awaited<ReturnType<typeof executeQueryPlan>>;

/**
 * Turns one upstream event into the client's result, exactly as a query would be resolved.
 *
 * The query planner plans a subscription as `Subscription { primary, rest }`; @apollo/gateway's executor
 * refuses that node, but executes any other plan. So each event runs the ordinary plan
 * `Sequence [primary, rest]` through the gateway's own `executeQueryPlan`, with one change to the
 * service map: the owning subgraph's data source answers the primary fetch with the event itself and
 * hands every other fetch to the real data source. Entity fetches therefore go out as a query's would
 * (the router's ForwardingDataSource: the subscriber's token, request id and traceparent), and result
 * shaping (aliases, `__typename`, key fields the client did not ask for, null propagation, error paths)
 * is the gateway's own.
 */
export function resolveEvent(prepared: PreparedSubscription, event: UpstreamEvent, context: RequestContext): Promise<ResolvedEvent> {
  const { snapshot, primary } = prepared;
  const serviceMap: Record<string, GraphQLDataSource<RequestContext>> = { ...snapshot.dataSources, [primary.serviceName]: answerPrimaryWith(primary, event, snapshot.dataSources[primary.serviceName]) };
  const requestContext = {
    request: { query: prepared.canonicalQuery, operationName: prepared.operationName, variables: prepared.variables },
    context,
    logger: context.logger,
    schema: snapshot.schema,
    document: prepared.document,
    operation: prepared.operation,
    operationName: prepared.operationName ?? null,
    source: prepared.canonicalQuery,
    metrics: {},
    overallCachePolicy: undefined,
  } as unknown as GatewayRequestContext;
  return executeQueryPlan(eventPlan(prepared), serviceMap, requestContext, prepared.operationContext, snapshot.supergraphSchema, snapshot.apiSchema);
}

const eventPlans = new WeakMap<PreparedSubscription['primary'], QueryPlan>();

/** `Sequence [primary, rest]`, or the primary fetch alone when the owner resolves every field. */
function eventPlan(prepared: PreparedSubscription): QueryPlan {
  let plan = eventPlans.get(prepared.primary);
  if (!plan) {
    const node: PlanNode = prepared.rest ? { kind: 'Sequence', nodes: [prepared.primary, prepared.rest] } : prepared.primary;
    plan = { kind: 'QueryPlan', node };
    eventPlans.set(prepared.primary, plan);
  }
  return plan;
}

function answerPrimaryWith(primary: FetchNode, event: UpstreamEvent, real: GraphQLDataSource<RequestContext> | undefined): GraphQLDataSource<RequestContext> {
  return {
    process(options) {
      if (options.request.query === primary.operation) return Promise.resolve({ data: event.data, errors: event.errors });
      if (!real) return Promise.reject(new Error(`No data source for subgraph "${primary.serviceName}"`));
      return real.process(options);
    },
  };
}
