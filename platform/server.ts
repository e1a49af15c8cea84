import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { trackConnections } from './drain.ts';
import { ErrorCodes } from './errors.ts';
import type { Logger } from './logger.ts';
import { createServiceMetrics, type ServiceMetrics } from './metrics.ts';

export type Phase = 'starting' | 'started' | 'draining' | 'stopped';

/** A plain route next to /graphql (JWKS, webhooks). It writes the whole response itself. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpServiceOptions<TContext extends BaseContext> {
  name: string;
  host: string;
  port: number;
  logger: Logger;
  /** Not yet started: startHttpService starts it before listening and stops it after draining. */
  apollo: ApolloServer<TContext>;
  /** Builds the per-request context; may throw a GraphQLError (e.g. UNAUTHENTICATED). */
  context: (req: IncomingMessage) => Promise<TContext>;
  routes?: Record<string, RouteHandler>;
  /**
   * Readiness: every check must resolve, and a check that reports must report `ready`. Names appear in
   * the /health/ready body, with what a check reports (its status and detail).
   */
  readiness: Record<string, () => Promise<void | ReadinessReport>>;
  /** Origins allowed by CORS; absent means no CORS headers at all (server-to-server only). */
  corsOrigins?: readonly string[];
  /** Steps run first on stop, before HTTP drains (close WebSockets with 1001 so apps reconnect elsewhere). */
  onDraining?: Array<() => Promise<void>>;
  /** Ordered shutdown steps run after HTTP has drained (close Redis, the ORM, ...). */
  onStopped?: Array<() => Promise<void>>;
  shutdownTimeoutMs: number;
  /**
   * While draining, how long a kept-alive connection may stay idle before it is closed (platform/drain.ts):
   * a client gets that long to send its next request, which is answered with `Connection: close`
   * instead of being reset. Default 1000.
   */
  drainIdleGraceMs?: number;
  /** Called for every HTTP server created, before listening (graphql-ws attaches here). */
  onHttpServer?: (server: http.Server) => void;
  /** Served at GET /metrics; created here when absent. */
  metrics?: ServiceMetrics;
  /** The largest GraphQL answer sent (bytes); a larger one is replaced by a RESPONSE_TOO_LARGE error. */
  maxResponseBytes?: number;
  /** Whether GET /metrics is answered on this (public) port; false in production (platform/metrics-server.ts serves it). Default true. */
  publicMetrics?: boolean;
  /**
   * Sees every parsed GraphQL POST before Apollo Server (the router's passthrough fast path).
   * Returns true when it has answered the request itself.
   */
  beforeGraphQL?: (req: IncomingMessage, res: ServerResponse, body: unknown) => Promise<boolean>;
}

/** What a readiness check may say beyond "ok": `ready: false` makes /health/ready answer 503. */
export interface ReadinessReport {
  ready: boolean;
  /** Shown as the check's value in the body (e.g. `ok`, `degraded`, `failing`). */
  status: string;
  /** Shown under `details.<check>` in the body. */
  detail?: unknown;
}

export interface HttpService {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  readonly metrics: ServiceMetrics;
  phase(): Phase;
  /**
   * Stop accepting, answer in-flight requests (with `Connection: close`) and close kept-alive connections
   * (up to shutdownTimeoutMs; platform/drain.ts), then run onStopped steps.
   */
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Serves an Apollo Server on a plain Node http server (so a WebSocket server can share the port),
 * with /health/live, /health/ready, extra routes and graceful shutdown.
 */
export async function startHttpService<TContext extends BaseContext>(options: HttpServiceOptions<TContext>): Promise<HttpService> {
  let phase: Phase = 'starting';
  const { apollo, logger } = options;
  const routes = options.routes ?? {};
  const metrics = options.metrics ?? createServiceMetrics(options.name, { processMetrics: false });

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((error) => {
      logger.error({ err: error }, 'unhandled error in request handler');
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: ErrorCodes.INTERNAL_SERVER_ERROR.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.end();
    });
  });
  options.onHttpServer?.(server);
  // Shutdown answers every request on a kept-alive connection and resets none (platform/drain.ts).
  const connections = trackConnections(server);

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = splitTarget(req.url ?? '/');
    const endTimer = metrics.httpRequests.startTimer({ method: req.method ?? 'GET' });
    res.once('finish', () => endTimer({ route: routeLabel(url.pathname), status: String(res.statusCode) }));
    if (options.corsOrigins && applyCors(req, res, options.corsOrigins)) return;
    if (url.pathname === '/health/live') return sendJson(res, 200, { status: 'ok', phase });
    if (url.pathname === '/health/ready') return ready(res);
    if (url.pathname === '/metrics' && options.publicMetrics !== false) {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
      return;
    }
    const route = routes[url.pathname];
    if (route) return route(req, res);
    if (url.pathname !== '/graphql' && url.pathname !== '/') return sendJson(res, 404, { error: 'not found' });

    let body: unknown;
    // A GET operation (`?query=…`) passes beforeGraphQL too (the router's edge), as the same body a POST would carry.
    if (req.method === 'GET' && options.beforeGraphQL && url.search.length > 1) {
      const get = getOperationBody(url.search);
      if (get && (await options.beforeGraphQL(req, res, get))) return;
    }
    if (req.method === 'POST') {
      const raw = await readBody(req);
      if (raw === null) return sendJson(res, 413, { errors: [{ message: 'Request body too large.', extensions: { code: 'BAD_USER_INPUT' } }] });
      if (raw.length > 0 && isJsonMediaType(req.headers['content-type'])) {
        try {
          body = JSON.parse(raw);
        } catch {
          return sendJson(res, 400, { errors: [{ message: 'The request body is not valid JSON.', extensions: { code: 'BAD_USER_INPUT' } }] });
        }
      } else body = raw;
      if (options.beforeGraphQL && (await options.beforeGraphQL(req, res, body))) return;
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: url.search, body },
      context: () => options.context(req),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      const answer = response.body.string;
      // The whole answer is capped too (each subgraph's part is capped by the router's data sources): a
      // few kilobytes of request never become megabytes of response. A UTF-8 character is at most 3 bytes
      // per UTF-16 unit, so most answers are cleared by their length alone.
      if (options.maxResponseBytes !== undefined && answer.length * 3 > options.maxResponseBytes && Buffer.byteLength(answer) > options.maxResponseBytes) {
        return sendJson(res, 400, {
          errors: [{ message: `The answer is larger than ${options.maxResponseBytes} bytes; ask for less (fewer fields, a smaller page).`, extensions: { code: 'BAD_USER_INPUT', reason: 'RESPONSE_TOO_LARGE', limit: options.maxResponseBytes } }],
        });
      }
      res.end(answer);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  async function ready(res: ServerResponse) {
    if (phase !== 'started') return sendJson(res, 503, { status: 'unavailable', phase });
    const checks: Record<string, string> = {};
    const details: Record<string, unknown> = {};
    let ok = true;
    let degraded = false;
    await Promise.all(
      Object.entries(options.readiness).map(async ([name, check]) => {
        try {
          const report = await withTimeout(check(), 2_000);
          checks[name] = report?.status ?? 'ok';
          if (report?.detail !== undefined) details[name] = report.detail;
          if (report && !report.ready) ok = false;
          else if (report && report.status !== 'ok') degraded = true;
        } catch (error) {
          ok = false;
          checks[name] = 'failing';
          logger.warn({ err: error, check: name }, 'readiness check failed');
        }
      }),
    );
    sendJson(res, ok ? 200 : 503, { status: !ok ? 'unavailable' : degraded ? 'degraded' : 'ok', checks, ...(Object.keys(details).length > 0 ? { details } : {}) });
  }

  await apollo.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  phase = 'started';
  const displayHost = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const url = `http://${displayHost}:${port}/graphql`;
  logger.info({ url }, `${options.name} listening`);

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    server,
    metrics,
    phase: () => phase,
    stop() {
      stopping ??= (async () => {
        phase = 'draining';
        connections.markDraining();
        for (const step of options.onDraining ?? []) {
          try {
            await step();
          } catch (error) {
            logger.error({ err: error }, 'draining step failed');
          }
        }
        const { cut } = await connections.drain({ timeoutMs: options.shutdownTimeoutMs, idleGraceMs: options.drainIdleGraceMs ?? 1_000 });
        if (cut > 0) logger.warn({ connections: cut, timeoutMs: options.shutdownTimeoutMs }, 'shutdown deadline passed: connections cut');
        await apollo.stop();
        for (const step of options.onStopped ?? []) {
          try {
            await step();
          } catch (error) {
            logger.error({ err: error }, 'shutdown step failed');
          }
        }
        phase = 'stopped';
        logger.info(`${options.name} stopped`);
      })();
      return stopping;
    },
  };
}

/** Bounded label values: known paths by name, everything else as "other". */
function routeLabel(pathname: string): string {
  return ['/graphql', '/', '/health/live', '/health/ready', '/metrics'].includes(pathname) || pathname.startsWith('/.well-known/') || pathname.startsWith('/webhooks/') ? pathname : 'other';
}

export function sendJson(res: ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/**
 * Whether a Content-Type is JSON (`application/json`, any parameters). Only such bodies are parsed
 * here and offered to a fast path: anything else (`text/plain` naming JSON in a parameter, say) goes to
 * Apollo Server as text, whose CSRF prevention then judges it.
 */
function isJsonMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semicolon = contentType.indexOf(';');
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase() === 'application/json';
}

/**
 * Path and query string of a request target. A request line carries only these (origin form), so
 * WHATWG URL parsing, a measurable cost per location update, is not needed to split them.
 */
/** `?query=…&operationName=…&variables=<json>&extensions=<json>` as a request body; undefined when it names no query or its JSON does not parse (Apollo Server answers those). */
function getOperationBody(search: string): Record<string, unknown> | undefined {
  const params = new URLSearchParams(search);
  const query = params.get('query');
  if (query === null && !params.has('extensions')) return undefined;
  try {
    const body: Record<string, unknown> = {};
    if (query !== null) body.query = query;
    if (params.has('operationName')) body.operationName = params.get('operationName');
    if (params.has('variables')) body.variables = JSON.parse(params.get('variables')!);
    if (params.has('extensions')) body.extensions = JSON.parse(params.get('extensions')!);
    return body;
  } catch {
    return undefined;
  }
}

function splitTarget(target: string): { pathname: string; search: string } {
  const query = target.indexOf('?');
  return query < 0 ? { pathname: target, search: '' } : { pathname: target.slice(0, query), search: target.slice(query) };
}

/** Reads the body as text; null when it exceeds the limit (the rest of the body is discarded). */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      chunks.length = 0; // answered at once; what else arrives is read and dropped
      resolve(null);
    };
    req.on('data', onData);
    req.once('error', reject);
    req.once('end', () => {
      req.off('data', onData);
      req.off('error', reject);
      resolve(size > limit ? null : chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** Returns true when the request was a preflight and has been answered. */
function applyCors(req: IncomingMessage, res: ServerResponse, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin && allowed.includes(origin)) {
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
    res.setHeader('access-control-allow-credentials', 'true');
  }
  if (req.method === 'OPTIONS') {
    if (origin && allowed.includes(origin)) {
      res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
      res.setHeader('access-control-allow-headers', 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id, traceparent');
      res.setHeader('access-control-max-age', '600');
      res.statusCode = 204;
    } else res.statusCode = 403;
    res.end();
    return true;
  }
  return false;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
