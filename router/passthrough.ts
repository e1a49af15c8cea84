import type { IncomingMessage, ServerResponse } from 'node:http';
import { operationFromDocument } from '@apollo/federation-internals';
import type { FetchNode } from '@apollo/query-planner';
import {
  getNamedType,
  getOperationAST,
  getVariableValues,
  isEnumType,
  Kind,
  parse,
  print,
  TypeInfo,
  validate,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type OperationDefinitionNode,
} from 'graphql';
import { Counter } from 'prom-client';
import { principalFromAuthorization, type TokenVerifier } from '../platform/auth.ts';
import { REQUEST_DEADLINE_HEADER, requestIdFrom, traceContextFrom } from '../platform/context.ts';
import { deadlineExceeded } from '../platform/errors.ts';
import { ResponseTooLargeError, UpstreamTimeoutError } from '../platform/http-client.ts';
import { limitRefusal } from './edge/features/operation-limits.ts';
import { asGraphQLRequest, MAX_REMEMBERED_QUERY_CHARS } from '../platform/graphql-request.ts';
import type { Logger } from '../platform/logger.ts';
import type { ServiceMetrics } from '../platform/metrics.ts';
import type { ReplayedAnswer } from './subgraph-data-source.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import type { SupergraphSnapshot } from './supergraph.ts';
import type { HttpClient } from '../platform/http-client.ts';

/**
 * The single-subgraph fast path. Most traffic is one operation answered by one subgraph: a driver's
 * `updateLocation` every few seconds, a rider's `nearbyDrivers`. For those, Apollo Server's request
 * pipeline and the gateway's executor (plan execution, result merging and shaping) do nothing the
 * subgraph's own answer does not already contain. So, once per document, the router checks that:
 *
 * - the operation is a query or mutation that validates against the API schema, without introspection
 *   fields, fragments or `@defer`;
 * - the query plan is ONE fetch to one subgraph, with no `@requires`, rewrites or context;
 * - the fetch selects exactly what the client selected (the planner added no `__typename` or keys);
 * - no selected enum has values hidden by `@inaccessible` (the gateway would null those out);
 *
 * and from then on forwards such requests straight to that subgraph (after checking the token and the
 * variables, as the gateway would), and streams the subgraph's bytes back: they are what the gateway
 * would have produced (tests compare the two byte for byte).
 *
 * Anything else — a new document, an invalid token, variables that do not coerce, persisted queries,
 * batches — continues into Apollo Server as before. When the subgraph's answer carries errors (or is
 * not a 200), the request also continues into Apollo Server, with the answer attached for the data
 * source to replay instead of sending the operation again: errors are shaped by the gateway itself,
 * and a mutation still runs once.
 */
export interface Passthrough {
  /**
   * Answers the request and returns true, or returns false for Apollo Server to answer it. The edge
   * (router/edge/http.ts) has admitted the operation before; `extensions` are the edge's additions to
   * the answer (its cost, in development).
   */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown, edge?: FastPathEdge): Promise<boolean>;
  /** The answer to replay for a request handed on after the fast path already called the subgraph. */
  replayFor(req: IncomingMessage): ReplayedAnswer | undefined;
  readonly stats: PassthroughStats;
}

export interface PassthroughStats {
  /** Answered on the fast path. */
  forwarded: number;
  /** Sent on the fast path, but errors came back: shaped by Apollo Server from the replayed answer. */
  replayed: number;
  /** Documents that do not qualify, or requests that did not (invalid token or variables): Apollo Server's. */
  declined: number;
}

export interface PassthroughOptions {
  snapshot(): SupergraphSnapshot;
  verify: TokenVerifier;
  client: HttpClient;
  logger: Logger;
  metrics: ServiceMetrics;
}

/**
 * The edge features (router/edge/) that need the answering path's help and that this fast path
 * implements; with any other such feature on, the router does not use the fast path.
 */
export const FAST_PATH_SUPPORTS: ReadonlySet<string> = new Set<string>(['execution-bounds']);

/** What the edge hands the fast path with an admitted operation. */
export interface FastPathEdge {
  /** Added to the answer's `extensions` (the cost, in development). */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** The execution bounds (router/edge/features/execution-bounds.ts): the deadline (epoch ms) and the largest answer read. */
  readonly deadline?: number;
  readonly maxResponseBytes?: number;
}

/** A document's verdict, per supergraph snapshot. */
type Route = { eligible: true; fetch: FetchNode; url: string; operation: OperationDefinitionNode } | { eligible: false; reason: string };

const ROUTE_CACHE_SIZE = 2_000;

export function createPassthrough(options: PassthroughOptions): Passthrough {
  const routes = new SnapshotCache<Route>(ROUTE_CACHE_SIZE);
  const replays = new WeakMap<IncomingMessage, ReplayedAnswer>();
  const stats: PassthroughStats = { forwarded: 0, replayed: 0, declined: 0 };
  const counter = new Counter({
    name: 'smartline_router_passthrough_requests_total',
    help: 'GraphQL requests by how the router answered them: fast path (forwarded), fast path then shaped by the gateway (replayed), or the gateway alone (declined).',
    labelNames: ['outcome'],
    registers: [options.metrics.registry],
  });
  const count = (outcome: keyof PassthroughStats) => {
    stats[outcome] += 1;
    counter.inc({ outcome });
  };

  function routeFor(query: string, operationName: string | undefined): { snapshot: SupergraphSnapshot; route: Route } | undefined {
    let snapshot: SupergraphSnapshot;
    try {
      snapshot = options.snapshot();
    } catch {
      return undefined; // no supergraph yet: Apollo Server answers (and says so)
    }
    const route = routes.get(snapshot, `${operationName ?? ''}\0${query}`, () => analyse(snapshot, query, operationName));
    return { snapshot, route };
  }

  return {
    stats,
    replayFor: (req) => replays.get(req),
    async handle(req, res, body, edge = {}) {
      const { extensions, deadline, maxResponseBytes } = edge;
      const request = asGraphQLRequest(body);
      if (!request) return false;
      if (request.query.length > MAX_REMEMBERED_QUERY_CHARS) {
        count('declined');
        return false;
      }
      const found = routeFor(request.query, request.operationName);
      if (!found?.route.eligible) {
        count('declined');
        return false;
      }
      const { snapshot, route } = found;
      try {
        await principalFromAuthorization(req.headers.authorization, options.verify);
      } catch {
        count('declined'); // Apollo Server answers 401 with the same error
        return false;
      }
      const provided = request.variables ?? {};
      if (route.operation.variableDefinitions?.length || Object.keys(provided).length) {
        const coerced = getVariableValues(snapshot.schema, route.operation.variableDefinitions ?? [], provided, { maxErrors: 1 });
        if (coerced.errors) {
          count('declined');
          return false;
        }
      }

      // What the gateway's executeFetch sends: the raw values of the variables the fetch uses.
      const variables: Record<string, unknown> = {};
      for (const name of route.fetch.variableUsages ?? []) if (provided[name] !== undefined) variables[name] = provided[name];
      const requestId = requestIdFrom(req.headers);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        traceparent: traceContextFrom(req.headers).traceparent,
        'x-request-id': requestId,
      };
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      if (deadline !== undefined) headers[REQUEST_DEADLINE_HEADER] = String(deadline);
      const payload = JSON.stringify({ query: route.fetch.operation, variables, operationName: route.fetch.operationName });

      let outcome: ReplayedAnswer['outcome'];
      try {
        const timeoutMs = deadline === undefined ? undefined : deadline - Date.now();
        // No time left: the subgraph is not called; the gateway answers the replayed refusal.
        if (timeoutMs !== undefined && timeoutMs <= 0) throw deadlineExceeded();
        const response = await options.client.post(route.url, headers, payload, { timeoutMs, maxBodyBytes: maxResponseBytes });
        if (response.ok && isCleanAnswer(response.body)) {
          res.statusCode = 200;
          res.setHeader('content-type', 'application/json; charset=utf-8');
          res.setHeader('x-request-id', requestId);
          // A clean answer is one JSON object ({"data":...}): the edge's extensions close it instead.
          res.end(extensions && Object.keys(extensions).length > 0 ? withExtensions(response.body, extensions) : response.body);
          count('forwarded');
          return true;
        }
        outcome = { response };
      } catch (error) {
        // The data source rethrows a replayed error as it is: give it the edge's codes.
        if (error instanceof UpstreamTimeoutError) outcome = { error: deadlineExceeded() };
        else if (error instanceof ResponseTooLargeError) outcome = { error: limitRefusal('RESPONSE_TOO_LARGE', error.limit, undefined, true) };
        else outcome = { error };
      }
      replays.set(req, { query: route.fetch.operation, outcome });
      count('replayed');
      return false;
    },
  };
}

/** The answer with `extensions` added as its last member (whatever follows the closing brace, a newline, is kept). */
function withExtensions(body: string, extensions: Readonly<Record<string, unknown>>): string {
  const end = body.lastIndexOf('}');
  return `${body.slice(0, end)},"extensions":${JSON.stringify(extensions)}${body.slice(end)}`;
}

/**
 * A subgraph answer with data and no errors. A cheap byte check first (an answer with errors names
 * the key), then a parse to be sure of the shape.
 */
function isCleanAnswer(body: string): boolean {
  if (body.includes('"errors"')) {
    try {
      const parsed = JSON.parse(body) as { errors?: unknown };
      if (parsed.errors !== undefined) return false;
    } catch {
      return false;
    }
  }
  return body.startsWith('{"data":{');
}

/** Whether a document qualifies for the fast path, and where it goes. Pure: cached per snapshot. */
export function analyse(snapshot: SupergraphSnapshot, query: string, operationName: string | undefined): Route {
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens: 10_000 });
  } catch {
    return { eligible: false, reason: 'parse error' };
  }
  if (validate(snapshot.schema, document).length > 0) return { eligible: false, reason: 'invalid' };
  const operation = getOperationAST(document, operationName);
  if (!operation || operation.operation === 'subscription') return { eligible: false, reason: 'no query or mutation' };
  const unsupported = unsupportedByDirectAnswers(snapshot, document, operation);
  if (unsupported) return { eligible: false, reason: unsupported };

  let plan;
  try {
    plan = snapshot.queryPlanner.buildQueryPlan(operationFromDocument(snapshot.apiSchema, document, { operationName }));
  } catch {
    return { eligible: false, reason: 'not plannable' };
  }
  const fetch = plan.node;
  if (fetch?.kind !== 'Fetch') return { eligible: false, reason: 'more than one fetch' };
  const different = differsFromTheClients(fetch, operation);
  if (different) return { eligible: false, reason: different };
  const url = snapshot.urls[fetch.serviceName];
  if (!url) return { eligible: false, reason: 'unknown subgraph' };
  return { eligible: true, fetch, url, operation };
}

/**
 * Why a subgraph's answer to this operation could not be handed to the client as it is (undefined when
 * it could, given one fetch that asks exactly what the client did): fragments, introspection, @defer,
 * or an enum with values the API hides (the gateway would null them).
 */
export function unsupportedByDirectAnswers(snapshot: SupergraphSnapshot, document: DocumentNode, operation: OperationDefinitionNode): string | undefined {
  if (document.definitions.some((definition) => definition.kind === Kind.FRAGMENT_DEFINITION)) return 'fragments';
  let unsupported: string | undefined;
  const typeInfo = new TypeInfo(snapshot.schema);
  visit(
    operation,
    visitWithTypeInfo(typeInfo, {
      Field(field) {
        const name = field.name.value;
        if (name === '__schema' || name === '__type') unsupported = 'introspection';
        const type = typeInfo.getType();
        const named = type && getNamedType(type);
        if (named && isEnumType(named)) {
          const full = snapshot.supergraphSchema.getType(named.name);
          if (!isEnumType(full) || full.getValues().length !== named.getValues().length) unsupported = 'enum with inaccessible values';
        }
      },
      Directive(directive) {
        if (directive.name.value === 'defer' || directive.name.value === 'stream') unsupported = 'defer';
      },
    }),
  );
  return unsupported;
}

/** Why the fetch's answer is not exactly the client's (undefined when it is): rewrites, or a selection the planner changed. */
export function differsFromTheClients(fetch: FetchNode, operation: OperationDefinitionNode): string | undefined {
  if (fetch.requires?.length || fetch.inputRewrites?.length || fetch.outputRewrites?.length || fetch.contextRewrites?.length || fetch.hasDefers) return 'rewrites';
  const upstream = getOperationAST(parse(fetch.operation), fetch.operationName);
  if (!upstream || print(upstream.selectionSet) !== print(operation.selectionSet)) return 'planner changed the selection';
  return undefined;
}
