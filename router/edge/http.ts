/**
 * The edge on HTTP. Every plain GraphQL POST (one operation as JSON) passes the pipeline here, before
 * the fast path and before Apollo Server: a refusal is answered at once, with its HTTP status and
 * headers; an admitted operation goes on to the fast path when every feature allows it, else to Apollo
 * Server, which knows it was admitted (`admittedFor`). What reaches Apollo Server without passing here
 * (GET requests, automatic persisted queries, anything that is not a plain operation) is admitted inside
 * Apollo Server by router/edge/apollo.ts, through the same pipeline.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestIdFrom } from '../../platform/context.ts';
import { asGraphQLRequest, type GraphQLRequestBody } from '../../platform/graphql-request.ts';
import { checkGraphQLRequestShape } from '../../platform/request-shape.ts';
import type { FastPathEdge } from '../passthrough.ts';
import { executionBoundsOf } from './features/execution-bounds.ts';
import type { EdgePipeline } from './pipeline.ts';
import { EdgeRefusal, type EdgeConnection, type EdgeRequest, type PersistedReference } from './types.ts';

export interface HttpEdgeOptions {
  pipeline: EdgePipeline;
  /** The HTTP fast path, when on and when every feature that needs the answering path's help supports it. */
  fastPath?: (req: IncomingMessage, res: ServerResponse, body: unknown, edge: FastPathEdge) => Promise<boolean>;
  /** Take the client's address from the first X-Forwarded-For hop (behind a trusted proxy or ingress only). */
  trustProxy: boolean;
}

export interface HttpEdge {
  /** The server's beforeGraphQL: answers a refusal or the fast path's answer (true), or hands on to Apollo Server (false). */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<boolean>;
  /** The operation admitted here for this HTTP request, if any. */
  admittedFor(req: IncomingMessage): EdgeRequest | undefined;
  /** The connection of an HTTP request (its address, headers and credential). */
  connectionOf(req: IncomingMessage): EdgeConnection;
}

export function createHttpEdge(options: HttpEdgeOptions): HttpEdge {
  const { pipeline } = options;
  const admitted = new WeakMap<IncomingMessage, EdgeRequest>();

  const connectionOf = (req: IncomingMessage): EdgeConnection =>
    pipeline.newConnection({ transport: 'http', ip: clientIp(req, options.trustProxy), headers: req.headers, authorization: req.headers.authorization });

  return {
    admittedFor: (req) => admitted.get(req),
    connectionOf,
    async handle(req, res, body) {
      // A body that cannot be an operation (a malformed operationName, persisted-query hash or variables) is a 400 at once.
      if (body !== null && typeof body === 'object') {
        const shape = checkGraphQLRequestShape(body);
        if (shape) {
          const answer = JSON.stringify({ errors: [{ message: shape.message, extensions: { code: shape.code } }] });
          res.writeHead(shape.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) });
          res.end(answer);
          return true;
        }
      }
      // By id: POST only (a GET's query string is read again by Apollo Server, which looks the id up in its cache).
      const plain = asGraphQLRequest(body) ?? (req.method === 'POST' ? asPersistedRequest(body) : undefined);
      if (!plain) return false;
      const connection = connectionOf(req);
      // A GET is answered by Apollo Server, which applies its CSRF rules and runs no mutation over GET.
      const request = pipeline.newRequest(connection, plain, requestIdFrom(req.headers), options.fastPath && req.method === 'POST' ? 'fast' : 'gateway');
      let valid: boolean;
      try {
        await pipeline.connect(connection);
        if (request.persisted) {
          await pipeline.resolve(request);
          // No feature knows the id: an automatic persisted query, looked up (and admitted) in Apollo Server.
          if (request.query === '') return false;
          asResolvedBody(body as Record<string, unknown>, request.query);
        }
        ({ valid } = await pipeline.admit(request));
      } catch (error) {
        if (!(error instanceof EdgeRefusal)) throw error;
        sendRefusal(res, request, error);
        pipeline.finish(request, { kind: 'refused', refusal: error, errorCodes: [error.code] });
        return true;
      }
      admitted.set(req, request);
      for (const [name, value] of Object.entries(request.responseHeaders)) res.setHeader(name, value);
      res.once('finish', () => {
        const errorCodes = (request.state.get(ERROR_CODES) as string[] | undefined) ?? [];
        pipeline.finish(request, { kind: res.statusCode >= 500 ? 'failed' : 'answered', errorCodes, bytes: Number(res.getHeader('content-length') ?? 0) || undefined });
      });
      if (valid && request.path === 'fast' && options.fastPath) {
        if (await options.fastPath(req, res, body, { extensions: request.extensions, ...executionBoundsOf(request) })) return true;
        request.path = 'gateway';
      } else request.path = 'gateway';
      return false;
    },
  };
}

/** Longest `documentId` taken (ours are 64 hex digits; other registries' ids are short too). */
const MAX_DOCUMENT_ID_CHARS = 256;

/**
 * A POST body naming a persisted operation by id: `documentId` (with or without the text), or
 * `extensions.persistedQuery` without the text (with the text it registers an automatic persisted query:
 * Apollo Server's). Undefined for anything else. The shape was checked before (checkGraphQLRequestShape).
 */
export function asPersistedRequest(body: unknown): (GraphQLRequestBody & { persisted: PersistedReference }) | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const { query, operationName, variables, extensions, documentId, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return undefined;
  if (query !== undefined && query !== null && typeof query !== 'string') return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
  const text = typeof query === 'string' ? query : '';
  const common = { query: text, operationName: operationName ?? undefined, variables: (variables ?? undefined) as Record<string, unknown> | undefined };
  if (documentId !== undefined && documentId !== null) {
    if (typeof documentId !== 'string' || documentId.length === 0 || documentId.length > MAX_DOCUMENT_ID_CHARS) return undefined;
    return { ...common, persisted: { id: documentId, protocol: 'documentId' } };
  }
  const persistedQuery = extensions !== null && typeof extensions === 'object' ? (extensions as Record<string, unknown>).persistedQuery : undefined;
  if (text !== '' || persistedQuery === null || typeof persistedQuery !== 'object') return undefined;
  const hash = (persistedQuery as Record<string, unknown>).sha256Hash;
  return typeof hash === 'string' ? { ...common, persisted: { id: hash.toLowerCase(), protocol: 'persistedQuery' } } : undefined;
}

/** The body, in place, as the plain operation a persisted id resolved to (what the fast path and Apollo Server read). */
function asResolvedBody(body: Record<string, unknown>, query: string): void {
  body.query = query;
  delete body.documentId;
  const extensions = body.extensions as Record<string, unknown> | undefined | null;
  if (extensions && typeof extensions === 'object') {
    const { persistedQuery: _resolved, ...others } = extensions;
    if (Object.keys(others).length > 0) body.extensions = others;
    else delete body.extensions;
  } else delete body.extensions;
}

/** Where Apollo Server notes the codes of the errors it answered with, for the response stage. */
export const ERROR_CODES = 'edge:errorCodes';

/** A refusal as HTTP: its status, its headers (Retry-After, RateLimit-*) and a GraphQL error body. */
export function sendRefusal(res: ServerResponse, request: EdgeRequest, refusal: EdgeRefusal): void {
  const body = JSON.stringify({ errors: [{ message: refusal.message, extensions: refusal.extensions }] });
  res.writeHead(refusal.httpStatus, {
    ...request.responseHeaders,
    ...refusal.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': request.requestId,
  });
  res.end(body);
}

/** The client's address: the socket's, or behind a trusted proxy the first X-Forwarded-For hop. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}
