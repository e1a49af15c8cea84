import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  execute,
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { asGraphQLRequest, MAX_REMEMBERED_QUERY_CHARS } from './graphql-request.ts';

/**
 * A subgraph's fast path: plain JSON POSTs of a query or mutation are executed here, with a document
 * parsed and validated once per query text, instead of going through Apollo Server's request pipeline
 * (a SHA-256 of the query, content negotiation, plugin hooks), which cost more per location update than
 * executing the operation itself.
 *
 * The answer is the one Apollo Server would give, byte for byte (tests/platform/fast-execution.test.ts
 * compares them): the same validation rules, the same error formatting (`formatError`, stack traces
 * outside production, the status an error asks for), the same body (`errors`, `data`, `extensions`
 * in that order, then a newline) and content type. Anything else is left to Apollo Server, which
 * answers it as before: GET, batches, persisted queries, an `accept` header other than `*∕*`,
 * subscriptions, documents that do not parse or validate or are longer than any of our operations, a context that cannot be built (a bad
 * token: Apollo Server answers 401), and variables that cannot be coerced (nothing ran, so Apollo
 * Server running it again is safe). Once execution started, this path answers: a mutation runs once.
 */
export interface FastExecutionOptions<TContext> {
  schema: GraphQLSchema;
  /** As Apollo Server's `introspection`: off adds the no-introspection validation rule. */
  introspection: boolean;
  /** As Apollo Server's `includeStacktraceInErrorResponses`. */
  includeStacktrace: boolean;
  /** Apollo Server's `formatError` hook, called the same way. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  context: (req: IncomingMessage) => Promise<TContext>;
  /** Counts what happened to each request (metrics). */
  onOutcome?: (outcome: 'executed' | 'declined') => void;
}

export type FastExecution = (req: IncomingMessage, res: ServerResponse, body: unknown) => Promise<boolean>;

const CACHE_SIZE = 1_000;
/** A cached verdict: not a valid document (lru-cache keeps no null values). */
const INVALID = Symbol('invalid document');
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function createFastExecution<TContext>(options: FastExecutionOptions<TContext>): FastExecution {
  const rules = options.introspection ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];
  /**
   * Query text → its document when it is valid, or INVALID (Apollo Server explains why it is not). Least
   * recently used out: a client sending many distinct documents cannot push out the ones in steady use.
   */
  const documents = new LRUCache<string, DocumentNode | typeof INVALID>({ max: CACHE_SIZE });
  const documentFor = (query: string): DocumentNode | null => {
    let document = documents.get(query);
    if (document === undefined) {
      try {
        const parsed = parse(query);
        document = validate(options.schema, parsed, rules).length === 0 ? parsed : INVALID;
      } catch {
        document = INVALID;
      }
      documents.set(query, document);
    }
    return document === INVALID ? null : document;
  };
  const declined = () => {
    options.onOutcome?.('declined');
    return false;
  };

  return async (req, res, body) => {
    const accept = req.headers.accept;
    if (req.method !== 'POST' || (accept !== undefined && accept !== '*/*')) return declined();
    const request = asGraphQLRequest(body);
    if (!request || request.query.length > MAX_REMEMBERED_QUERY_CHARS) return declined();
    const document = documentFor(request.query);
    const operation = document && getOperationAST(document, request.operationName);
    if (!document || !operation || operation.operation === 'subscription') return declined();
    let contextValue: TContext;
    try {
      contextValue = await options.context(req);
    } catch {
      return declined();
    }
    const result = await execute({ schema: options.schema, document, operationName: request.operationName, variableValues: request.variables, contextValue });
    if (!('data' in result)) return declined(); // request errors (variables): nothing was executed

    const http: { status?: number; headers: Array<[string, string]> } = { headers: [] };
    const errors = result.errors?.map((error) => formatError(error, options, http));
    res.statusCode = http.status ?? 200;
    for (const [name, value] of http.headers) res.setHeader(name, value);
    res.setHeader('content-type', JSON_CONTENT_TYPE);
    res.end(`${JSON.stringify({ errors, data: result.data, extensions: result.extensions })}\n`);
    options.onOutcome?.('executed');
    return true;
  };
}

/** What Apollo Server does to each error of a result (errorNormalize.ts: enrichError, then formatError). */
function formatError(error: GraphQLError, options: FastExecutionOptions<unknown>, http: { status?: number; headers: Array<[string, string]> }): GraphQLFormattedError {
  const enrich = (maybeError: unknown): GraphQLFormattedError => {
    const graphQLError = maybeError instanceof GraphQLError ? maybeError : new GraphQLError(maybeError instanceof Error ? maybeError.message : `Unexpected error value: ${String(maybeError)}`, { originalError: maybeError instanceof Error ? maybeError : undefined });
    const extensions: Record<string, unknown> = { ...graphQLError.extensions, code: graphQLError.extensions.code ?? 'INTERNAL_SERVER_ERROR' };
    const asked = extensions.http as { status?: unknown; headers?: unknown } | undefined;
    if (asked && typeof asked === 'object' && (!('status' in asked) || typeof asked.status === 'number') && (!('headers' in asked) || asked.headers instanceof Map)) {
      if (typeof asked.status === 'number') http.status = asked.status;
      if (asked.headers instanceof Map) for (const [name, value] of asked.headers) http.headers.push([name, value]);
      delete extensions.http;
    }
    if (options.includeStacktrace) extensions.stacktrace = graphQLError.stack?.split('\n');
    return { ...graphQLError.toJSON(), extensions };
  };
  try {
    return options.formatError(enrich(error), error);
  } catch (formattingError) {
    return options.includeStacktrace ? enrich(formattingError) : { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
}
