import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { handleProtocols, makeServer, MessageType, parseMessage, type FormattedExecutionResult } from 'graphql-ws';
import { decodeJwt } from 'jose';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createRequestContext, requestIdFrom, traceContextFrom, type RequestContext } from '../../platform/context.ts';
import type { Logger } from '../../platform/logger.ts';
import { rateLimitClose } from '../edge/features/rate-limits.ts';
import { clientIp } from '../edge/http.ts';
import type { EdgePipeline } from '../edge/pipeline.ts';
import { EdgeRefusal, type EdgeConnection } from '../edge/types.ts';
import { SubscriptionCloseCodes } from './close-codes.ts';
import { SubscriptionEndedError, type SubscriptionEngine } from './engine.ts';
import type { PreparedSubscription } from './operation.ts';
import { forwardedAuthorization, wsAuthorization } from '../edge/features/api-keys.ts';

export interface SubscriptionSocketsOptions {
  server: http.Server;
  /** Default '/graphql': the same path and port as HTTP. */
  path?: string;
  engine: SubscriptionEngine;
  /** The edge every connection and subscribe message passes (router/edge/): authentication, limits, rate limits. */
  edge: EdgePipeline;
  logger: Logger;
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  /** WebSocket pings to each client; one unanswered for this long cuts the socket (default 12 000 ms). */
  keepAliveMs?: number;
  /** How long a new socket may take to send connection_init (default 3 000 ms). */
  connectionInitWaitTimeoutMs?: number;
  /** Largest frame a client may send (default 64 KiB). */
  maxFrameBytes?: number;
  /** Operations one socket may run at once; one more is refused with RATE_LIMITED (default 100). */
  maxSubscriptionsPerSocket?: number;
  /** Client addresses from the first X-Forwarded-For hop (config.trustProxy). */
  trustProxy?: boolean;
}

export interface SubscriptionSockets {
  /** Client sockets currently open. */
  sockets(): number;
  /** New WebSocket upgrades are answered 503 from now on. */
  stopAccepting(): void;
  /** Closes every client socket with `code`, waits up to `timeoutMs` for the close handshakes, then cuts the rest. */
  closeAll(code: number, reason: string, timeoutMs: number): Promise<void>;
}

/** What the adapter keeps per socket (graphql-ws's `ctx.extra`). */
interface Connection {
  readonly socket: WebSocket;
  readonly request: http.IncomingMessage;
  readonly close: (code: number, reason: string) => void;
  /** The edge's view of this socket, from connection_init on. */
  edge?: EdgeConnection;
  expiry?: NodeJS.Timeout;
}

/** One subscribe message, validated and planned, on its way from onSubscribe to the engine. */
interface PendingOperation {
  prepared: PreparedSubscription;
  context: RequestContext;
}

export type FrameVerdict = { ok: true; text: string } | { ok: false; code: number; reason: string };

/** Message types a client may send; anything else (next, error, connection_ack, ...) is the server's to send. */
const CLIENT_MESSAGES: ReadonlySet<string> = new Set([MessageType.ConnectionInit, MessageType.Ping, MessageType.Pong, MessageType.Subscribe, MessageType.Complete]);

/**
 * The one check every incoming frame passes before graphql-ws sees it: text, within the size limit,
 * JSON, a well-formed graphql-transport-ws message, and one a client may send.
 */
export function validateFrame(data: RawData, isBinary: boolean, maxFrameBytes: number): FrameVerdict {
  if (isBinary) return { ok: false, code: SubscriptionCloseCodes.BAD_REQUEST, reason: 'Binary frames are not accepted' };
  const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
  if (Buffer.byteLength(text) > maxFrameBytes) return { ok: false, code: SubscriptionCloseCodes.MESSAGE_TOO_BIG, reason: 'Frame too large' };
  let type: string;
  try {
    type = parseMessage(text).type;
  } catch {
    return { ok: false, code: SubscriptionCloseCodes.BAD_REQUEST, reason: 'Invalid message received' };
  }
  if (!CLIENT_MESSAGES.has(type)) return { ok: false, code: SubscriptionCloseCodes.BAD_REQUEST, reason: `Unexpected message of type ${type}` };
  return { ok: true, text };
}

/**
 * The thin ws adapter: graphql-ws's transport-free server core (`makeServer`) on the router's own HTTP
 * server, in front of the subscription engine. Authenticates connection_init, keeps sockets alive,
 * validates every frame, and closes with a named code for every violation.
 */
export function attachSubscriptionSockets(options: SubscriptionSocketsOptions): SubscriptionSockets {
  const { engine, logger } = options;
  const path = options.path ?? '/graphql';
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const maxFrameBytes = options.maxFrameBytes ?? 64 * 1024;
  const maxSubscriptions = options.maxSubscriptionsPerSocket ?? 100;
  const sockets = new Set<WebSocket>();
  let accepting = true;

  const format = (error: GraphQLError): readonly GraphQLFormattedError[] =>
    error.originalError instanceof SubscriptionEndedError ? error.originalError.errors : [options.formatError(error.toJSON(), error)];

  const server = makeServer<Record<string, unknown>, Connection>({
    connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? 3_000,
    async onConnect({ connectionParams, extra }) {
      const authorization = wsAuthorization(connectionParams);
      const connection = options.edge.newConnection({ transport: 'ws', ip: clientIp(extra.request, options.trustProxy ?? false), headers: extra.request.headers, authorization });
      try {
        await options.edge.connect(connection);
      } catch (error) {
        if (!(error instanceof EdgeRefusal)) throw error;
        // What connect took (a connection slot) is given back: this socket never opened.
        options.edge.disconnect(connection);
        const [code, reason] = closeFor(error);
        extra.close(code, reason);
        return false;
      }
      extra.edge = connection;
      // Anonymous callers are welcome (the subgraphs' rules decide what they may see); a token ends the socket when it expires.
      const forwarded = forwardedAuthorization(connection);
      if (forwarded) scheduleExpiry(extra, forwarded);
      return true;
    },
    async onSubscribe({ extra, subscriptions }, _id, payload) {
      // graphql-ws has already reserved this operation's id, so it counts itself.
      if (Object.keys(subscriptions).length > maxSubscriptions) {
        return [new GraphQLError(`At most ${maxSubscriptions} subscriptions may run on one socket.`, { extensions: { code: 'RATE_LIMITED', reason: 'TOO_MANY_SUBSCRIPTIONS' } })];
      }
      const extensions = (payload.extensions ?? {}) as Record<string, unknown>;
      const requestId = requestIdFrom({ 'x-request-id': typeof extensions.requestId === 'string' ? extensions.requestId : undefined });
      // A persisted operation may be named by id (Apollo's extensions.persistedQuery); the edge resolves its text.
      const persistedQuery = extensions.persistedQuery as { sha256Hash?: unknown } | undefined;
      const persisted = typeof persistedQuery?.sha256Hash === 'string' ? { id: persistedQuery.sha256Hash.toLowerCase(), protocol: 'persistedQuery' as const } : undefined;
      const edgeRequest = options.edge.newRequest(extra.edge!, { query: payload.query ?? '', operationName: payload.operationName, variables: payload.variables, persisted }, requestId, 'subscription');
      try {
        await options.edge.admit(edgeRequest);
      } catch (error) {
        if (!(error instanceof EdgeRefusal)) throw error;
        options.edge.finish(edgeRequest, { kind: 'refused', refusal: error, errorCodes: [error.code] });
        return [new GraphQLError(error.message, { extensions: error.extensions })];
      }
      const prepared = engine.prepare({ ...payload, query: edgeRequest.query });
      if (Array.isArray(prepared)) {
        options.edge.finish(edgeRequest, { kind: 'answered', errorCodes: (prepared as readonly GraphQLError[]).map((e) => String(e.extensions?.code ?? '')) });
        return prepared as readonly GraphQLError[];
      }
      const ready = prepared as PreparedSubscription;
      const context = createRequestContext({
        requestId,
        trace: traceContextFrom({ traceparent: typeof extensions.traceparent === 'string' ? extensions.traceparent : extra.request.headers.traceparent }),
        logger,
        authorization: forwardedAuthorization(extra.edge!),
        principal: extra.edge!.principal,
      });
      options.edge.finish(edgeRequest, { kind: 'answered', errorCodes: [] });
      const pending: PendingOperation = { prepared: ready, context };
      return { schema: ready.snapshot.schema, document: ready.document, operationName: ready.operationName, variableValues: ready.variables, contextValue: pending };
    },
    subscribe(args) {
      const { prepared, context } = args.contextValue as PendingOperation;
      return engine.subscribe(prepared, context) as AsyncIterableIterator<never>;
    },
    // Results leave the engine as plain, already formatted JSON: send them as they are.
    onNext: (_ctx, _id, _payload, _args, result) => result as FormattedExecutionResult,
    onError: (_ctx, _id, _payload, errors) => errors.flatMap(format),
    onClose({ extra }) {
      clearTimeout(extra.expiry);
      if (extra.edge) options.edge.disconnect(extra.edge);
    },
  });

  /** Closes the socket once: the first code is the one the client sees. */
  function closer(socket: WebSocket) {
    let closing = false;
    return (code: number, reason: string) => {
      if (closing) return;
      closing = true;
      socket.close(code, reason);
    };
  }

  /** The socket ends with 4401 when its token expires: the app reconnects with a refreshed one. */
  function scheduleExpiry(connection: Connection, authorization: string) {
    const exp = decodeJwt(authorization.trim().replace(/^Bearer /, '')).exp;
    if (typeof exp !== 'number') return;
    const ms = Math.min(exp * 1000 - Date.now(), 2 ** 31 - 1);
    connection.expiry = setTimeout(() => connection.close(SubscriptionCloseCodes.UNAUTHORIZED, 'Token expired'), Math.max(ms, 0));
  }

  function onConnection(socket: WebSocket, request: http.IncomingMessage) {
    sockets.add(socket);
    const close = closer(socket);
    const connection: Connection = { socket, request, close };
    socket.on('error', (error) => logger.debug({ err: error }, 'subscription socket error'));

    let pongWait: NodeJS.Timeout | undefined;
    const pinger = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
      socket.ping();
    }, keepAliveMs);
    socket.on('pong', () => clearTimeout(pongWait));

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close,
        onMessage(handle) {
          socket.on('message', (data, isBinary) => {
            const verdict = validateFrame(data, isBinary, maxFrameBytes);
            if (!verdict.ok) return close(verdict.code, verdict.reason);
            handle(verdict.text).catch((error) => {
              // A send to a socket that went away mid-stream is not the router's fault; anything else is.
              if (socket.readyState !== socket.OPEN) return;
              logger.error({ err: error }, 'subscription message handling failed');
              close(SubscriptionCloseCodes.INTERNAL_SERVER_ERROR, 'Internal server error');
            });
          });
        },
      },
      connection,
    );

    socket.once('close', (code, reason) => {
      sockets.delete(socket);
      clearInterval(pinger);
      clearTimeout(pongWait);
      clearTimeout(connection.expiry);
      closed(code, reason.toString()).catch((error) => logger.error({ err: error }, 'subscription socket cleanup failed'));
    });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, handleProtocols: (protocols) => handleProtocols(protocols) });
  options.server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(request.url ?? '/', 'http://internal').pathname;
    if (pathname !== path) return refuse(socket, 404, 'Not Found');
    if (!accepting) return refuse(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, request));
  });

  return {
    sockets: () => sockets.size,
    stopAccepting() {
      accepting = false;
    },
    async closeAll(code, reason, timeoutMs) {
      const open = [...sockets];
      const gone = Promise.all(open.map((socket) => (socket.readyState === socket.CLOSED ? undefined : new Promise<void>((resolve) => socket.once('close', () => resolve())))));
      for (const socket of open) socket.close(code, reason);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([gone, deadline]);
      clearTimeout(timer);
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * A refused connection_init as a close code: 4401 for the caller's credential; 1013 (Try Again Later) for
 * a rate limit, which graphql-ws clients retry with their backoff (its own 4429 they treat as fatal);
 * 4403 otherwise.
 */
function closeFor(refusal: EdgeRefusal): [number, string] {
  if (refusal.code === 'UNAUTHENTICATED') return [SubscriptionCloseCodes.UNAUTHORIZED, 'Unauthorized'];
  if (refusal.code === 'RATE_LIMITED') return [SubscriptionCloseCodes.TRY_AGAIN_LATER, rateLimitClose(refusal).reason];
  if (refusal.code === 'SERVICE_UNAVAILABLE') return [SubscriptionCloseCodes.TRY_AGAIN_LATER, 'Try again later'];
  return [SubscriptionCloseCodes.FORBIDDEN, 'Forbidden'];
}

function refuse(socket: Duplex, status: number, text: string) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
