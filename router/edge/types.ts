/**
 * The router's edge: one pipeline every GraphQL operation passes, whichever way it came in — HTTP
 * answered by the gateway (Apollo Server), HTTP answered by the fast path (router/passthrough.ts), or a
 * graphql-ws subscribe message. A router feature (authentication, operation limits, rate limits,
 * persisted operations, metrics, logging) is an EdgeFeature written once; the transports only adapt
 * (router/edge/http.ts, router/subscriptions/ws.ts) and render a refusal their own way (an HTTP status
 * with headers; a graphql-ws `error` message, or a close code for a connection).
 *
 * Stages, in order (each feature's hook runs in the order features are listed):
 *   connect    once per connection: a WebSocket's connection_init (an HTTP request is its own connection)
 *   resolve    the caller is known: the document's text may be set from a persisted operation's id
 *              (`resolveDocument`), or the operation refused for how it was sent (safelisting)
 *   request    before parsing: the caller is known (authentication), nothing is parsed yet
 *   operation  parsed and validated against the API schema, before planning
 *   response   after the answer was sent (or refused): metrics, logs, penalties for failed log-ins
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { DocumentNode, GraphQLSchema, OperationDefinitionNode, ValidationRule } from 'graphql';
import type { Principal } from '../../platform/auth.ts';
import { AppError, ErrorCodes, type ErrorCode } from '../../platform/errors.ts';

export type Transport = 'http' | 'ws';

/** Which way an operation is answered: the gateway, the HTTP fast path, or the subscription engine. */
export type EdgePath = 'gateway' | 'fast' | 'subscription';

/** One client connection: an HTTP request, or a WebSocket from connection_init to close. */
export interface EdgeConnection {
  readonly transport: Transport;
  /** The peer's address (the socket's, or the first X-Forwarded-For hop when the router trusts its proxy). */
  readonly ip: string;
  /** The HTTP request's headers (for a WebSocket: its upgrade request's). */
  readonly headers: IncomingHttpHeaders;
  /** The credential presented: the Authorization header, or graphql-ws connectionParams.authorization. */
  readonly authorization: string | undefined;
  /** Set by the authentication feature; undefined for an anonymous caller. */
  principal: Principal | undefined;
  /** Features' per-connection notes (e.g. a WebSocket's rate-limit reservation to give back on close). */
  readonly state: Map<string, unknown>;
}

/**
 * An operation named by id instead of (or beside) its text: Apollo's `extensions.persistedQuery
 * { version: 1, sha256Hash }` (persisted query lists and automatic persisted queries), or `documentId`.
 */
export interface PersistedReference {
  readonly id: string;
  readonly protocol: 'persistedQuery' | 'documentId';
}

/** One GraphQL operation at the edge. */
export interface EdgeRequest {
  readonly connection: EdgeConnection;
  readonly requestId: string;
  /** Decided before the operation stage; a feature only the gateway supports makes it 'gateway'. */
  path: EdgePath;
  /**
   * The document's text. Empty when the caller sent only a persisted id, until a feature's
   * `resolveDocument` sets it; nothing may change it after the resolve stage.
   */
  query: string;
  /** The persisted operation the caller named by id, if any (the text may have come with it). */
  readonly persisted?: PersistedReference;
  readonly operationName: string | undefined;
  readonly variables: Readonly<Record<string, unknown>>;
  /** Set by the pipeline's parse step, before the operation stage. */
  document: DocumentNode | undefined;
  operation: OperationDefinitionNode | undefined;
  /** The API schema the document was validated against (the snapshot's). */
  schema: GraphQLSchema | undefined;
  /** Headers to send with the answer (HTTP only): RateLimit-*, Retry-After. */
  readonly responseHeaders: Record<string, string>;
  /** Added to the answer's `extensions` (e.g. the operation's cost, in development). */
  readonly extensions: Record<string, unknown>;
  /** Features' per-request notes. */
  readonly state: Map<string, unknown>;
  /** Time the request reached the router (performance.now()). */
  readonly startedAt: number;
}

/** How an operation ended, for the response stage. */
export interface EdgeOutcome {
  /** 'refused' by a feature (`refusal` says which), 'answered' (possibly with errors), or 'failed' (the router broke). */
  kind: 'answered' | 'refused' | 'failed';
  refusal?: EdgeRefusal;
  /** The `extensions.code` of every error in the answer. */
  errorCodes: readonly string[];
  /** Bytes of the answer, when known (HTTP). */
  bytes?: number;
}

type MaybePromise<T> = T | Promise<T>;

export interface EdgeFeature {
  readonly name: string;
  /** Extra validation rules run with graphql-js's own against every parsed document (depth, aliases, ...). */
  readonly validationRules?: readonly ValidationRule[];
  /**
   * The feature needs the answering path's help (a deadline its fetches honour, a cap on the answer's
   * size): a path that does not declare support for it (router/passthrough.ts FAST_PATH_SUPPORTS) is not
   * used while the feature is on, and the gateway answers instead.
   */
  readonly needsPathSupport?: boolean;
  connect?(connection: EdgeConnection): MaybePromise<void>;
  /** A WebSocket closed: give back what `connect` took. */
  disconnect?(connection: EdgeConnection): void;
  /**
   * After connect (the caller is known), before the request stage: may set `request.query` from
   * `request.persisted` (a persisted operation's id), or refuse how the operation was sent. Runs once per
   * request, also for operations Apollo Server already parsed (the text is then Apollo Server's).
   */
  resolveDocument?(request: EdgeRequest): MaybePromise<void>;
  request?(request: EdgeRequest): MaybePromise<void>;
  operation?(request: EdgeRequest): MaybePromise<void>;
  response?(request: EdgeRequest, outcome: EdgeOutcome): void;
}

/**
 * A feature's "no": thrown from any stage, it stops the operation (or the connection) there. Its code is
 * one of the registry's (platform/errors.ts); each transport renders it (HTTP: `httpStatus`, `headers`).
 */
export class EdgeRefusal extends AppError {
  readonly httpStatus: number;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: { extensions?: Record<string, unknown>; headers?: Record<string, string>; httpStatus?: number } = {}) {
    super(code, message, options.extensions);
    this.name = 'EdgeRefusal';
    this.httpStatus = options.httpStatus ?? ErrorCodes[code].httpStatus;
    this.headers = options.headers ?? {};
  }
}
