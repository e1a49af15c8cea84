import { buildOperationContext } from '@apollo/gateway';
import { operationFromDocument } from '@apollo/federation-internals';
import type { FetchNode, PlanNode } from '@apollo/query-planner';
import { getOperationAST, getVariableValues, GraphQLError, Kind, parse, print, validate, type DocumentNode, type FieldNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { differsFromTheClients, unsupportedByDirectAnswers } from '../passthrough.ts';
import { SnapshotCache } from '../snapshot-cache.ts';
import type { SupergraphSnapshot } from '../supergraph.ts';

/** A subscription request as a client sends it (the `subscribe` message's payload). */
export interface SubscriptionRequest {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** A subscription operation, validated and planned against one supergraph snapshot. */
export interface PreparedSubscription {
  readonly snapshot: SupergraphSnapshot;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  readonly operationName: string | undefined;
  /** The document printed canonically (whitespace and comments do not split dedup groups). */
  readonly canonicalQuery: string;
  readonly variables: Record<string, unknown>;
  /** The subscription's one root field, by name (queue policies are chosen by it). */
  readonly rootField: string;
  /** The fetch that opens the stream on the subgraph owning the root field. */
  readonly primary: FetchNode;
  /** Entity fetches to other subgraphs, run for every event; absent when the owner resolves everything. */
  readonly rest: PlanNode | undefined;
  /**
   * The owner resolves everything and its fetch asks exactly what the client did (no fragments,
   * rewrites, hidden enum values): an event without errors is the client's result as it is.
   */
  readonly direct: boolean;
  readonly operationContext: ReturnType<typeof buildOperationContext>;
}

/** Parsed, validated and planned documents per snapshot; plans are pure functions of (snapshot, document, name). */
const plans = new SnapshotCache<PlannedDocument | readonly GraphQLError[]>(1_000);

interface PlannedDocument {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  canonicalQuery: string;
  rootField: string;
  primary: FetchNode;
  rest: PlanNode | undefined;
  direct: boolean;
  operationContext: ReturnType<typeof buildOperationContext>;
}

/**
 * Validates a subscription against the supergraph's API schema and plans it with the gateway's own
 * query planner: a `SubscriptionNode` (primary fetch + rest). Returns the errors a client should see
 * (codes GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT, BAD_REQUEST) instead of throwing.
 */
export function prepareSubscription(snapshot: SupergraphSnapshot, request: SubscriptionRequest): PreparedSubscription | readonly GraphQLError[] {
  const operationName = request.operationName ?? undefined;
  const planned = plans.get(snapshot, `${operationName ?? ''}\0${request.query}`, () => plan(snapshot, request.query, operationName));
  if (isErrorList(planned)) return planned;

  const coerced = getVariableValues(snapshot.schema, planned.operation.variableDefinitions ?? [], request.variables ?? {}, { maxErrors: 10 });
  if (coerced.errors) return coerced.errors.map((error) => withCode(error, 'BAD_USER_INPUT'));
  // The raw JSON variables travel on (as a query's would): subgraphs coerce them again against their own schema.
  return { snapshot, operationName, variables: request.variables ?? {}, ...planned };
}

function plan(snapshot: SupergraphSnapshot, query: string, operationName: string | undefined): PlannedDocument | readonly GraphQLError[] {
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens: 10_000 });
  } catch (error) {
    return [withCode(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
  }
  const validationErrors = validate(snapshot.schema, document);
  if (validationErrors.length > 0) return validationErrors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED'));
  const operation = getOperationAST(document, operationName);
  if (!operation) return [new GraphQLError('Unable to identify the operation: name it with operationName.', { extensions: { code: 'BAD_REQUEST' } })];
  if (operation.operation !== 'subscription') {
    return [new GraphQLError('Only subscriptions are served over WebSocket; send queries and mutations over HTTP.', { extensions: { code: 'BAD_REQUEST' } })];
  }
  // graphql 16's validation does not check that the schema has the operation's root type.
  if (!snapshot.schema.getSubscriptionType()) {
    return [new GraphQLError('This supergraph has no subscriptions.', { nodes: [operation], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })];
  }
  const root = firstField(document, operation.selectionSet);
  const queryPlan = snapshot.queryPlanner.buildQueryPlan(operationFromDocument(snapshot.apiSchema, document, { operationName }));
  if (!root || queryPlan.node?.kind !== 'Subscription') {
    return [new GraphQLError('This subscription cannot be planned.', { extensions: { code: 'BAD_REQUEST' } })];
  }
  return {
    document,
    operation,
    canonicalQuery: print(document),
    rootField: root.name.value,
    primary: queryPlan.node.primary,
    rest: queryPlan.node.rest,
    direct: !queryPlan.node.rest && !unsupportedByDirectAnswers(snapshot, document, operation) && !differsFromTheClients(queryPlan.node.primary, operation),
    operationContext: buildOperationContext({ schema: snapshot.schema, operationDocument: document, operationName }),
  };
}

/** The operation's root field, through fragments (validation has ensured a subscription has exactly one). */
function firstField(document: DocumentNode, selectionSet: SelectionSetNode): FieldNode | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) return selection;
    if (selection.kind === Kind.INLINE_FRAGMENT) return firstField(document, selection.selectionSet);
    const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
    if (fragment?.kind === Kind.FRAGMENT_DEFINITION) return firstField(document, fragment.selectionSet);
  }
  return undefined;
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: { ...error.extensions, code } });
}

function isErrorList(value: PlannedDocument | readonly GraphQLError[]): value is readonly GraphQLError[] {
  return Array.isArray(value);
}
