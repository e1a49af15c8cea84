import { DEFAULT_PORTS, type ServiceConfig, type ServiceName, type SubgraphName } from './config.ts';
import { REQUEST_DEADLINE_HEADER, type TraceContext } from './context.ts';
import { AppError, deadlineExceeded, isErrorCode } from './errors.ts';
import { createHttpClient, type HttpResponse } from './http-client.ts';
import type { Logger } from './logger.ts';
import { loadServiceTokenSecret, mintServiceToken, SERVICE_TOKEN_HEADER, SERVICE_TOKEN_TTL_MS } from './service-auth.ts';

export interface ServiceClientOptions {
  caller: ServiceName;
  target: SubgraphName;
  config: ServiceConfig;
  /** Where the target answers, read at every call (the router: its supergraph's URL); default config.subgraphUrls. */
  url?: () => string | undefined;
  logger: Logger;
  /** Per-request timeout (default 2 s). */
  timeoutMs?: number;
}

/** Ties an internal call to the request that caused it (logs and traces line up). */
export interface ServiceRequestOptions {
  requestId?: string;
  trace?: TraceContext;
  timeoutMs?: number;
  /** The caller's own deadline (epoch ms, from the router): sent on, and the call gets only the time left. */
  deadline?: number;
}

/** The options a resolver passes to a service call: its request's id, trace and deadline. */
export function callOptionsOf(ctx: { readonly requestId: string; readonly trace: TraceContext; readonly deadline?: number }): ServiceRequestOptions {
  return { requestId: ctx.requestId, trace: ctx.trace, deadline: ctx.deadline };
}

/** A callee's refusal as our own AppError: its code (INTERNAL_SERVER_ERROR when not one of ours), message and details, and who said it. */
export function calleeError(target: SubgraphName, code: unknown, message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError(isErrorCode(code) ? code : 'INTERNAL_SERVER_ERROR', message, { ...details, service: target });
}

export interface ServiceClient {
  /** The data of a GraphQL operation on the target subgraph; a GraphQL error is re-thrown as AppError with the remote code. */
  request<TData = any>(query: string, variables?: Record<string, unknown>, options?: ServiceRequestOptions): Promise<TData>;
}

interface GraphQLResponse<TData> {
  data?: TData | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/**
 * Calls another subgraph directly (never through the router) as a service, over the keep-alive pool
 * of platform/http-client.ts. The URL is read from config.subgraphUrls at every call, so a
 * caller created before its target started (test stacks on port 0) still reaches it.
 */
export function createServiceClient(options: ServiceClientOptions): ServiceClient {
  const { caller, target, config, logger } = options;
  const secret = loadServiceTokenSecret(config, logger);
  const http = createHttpClient();
  let cached: { token: string; renewAt: number } | undefined;
  const token = () => {
    const now = Date.now();
    // One HMAC per half-life of the token, not per call.
    if (!cached || cached.renewAt <= now) cached = { token: mintServiceToken({ caller, target, secret, now }), renewAt: now + SERVICE_TOKEN_TTL_MS / 2 };
    return cached.token;
  };

  return {
    async request<TData>(query: string, variables?: Record<string, unknown>, requestOptions: ServiceRequestOptions = {}): Promise<TData> {
      const url = options.url?.() ?? config.subgraphUrls[target] ?? `http://localhost:${DEFAULT_PORTS[target]}/graphql`;
      const headers: Record<string, string> = { 'content-type': 'application/json', [SERVICE_TOKEN_HEADER]: token() };
      if (requestOptions.requestId) headers['x-request-id'] = requestOptions.requestId;
      if (requestOptions.trace) headers.traceparent = requestOptions.trace.traceparent;
      let timeoutMs = requestOptions.timeoutMs ?? options.timeoutMs ?? 2_000;
      const { deadline } = requestOptions;
      if (deadline !== undefined) {
        // The router's deadline travels on: the callee refuses work past it, and this call waits only the time left.
        const left = deadline - Date.now();
        if (left <= 0) throw deadlineExceeded();
        headers[REQUEST_DEADLINE_HEADER] = String(deadline);
        timeoutMs = Math.min(timeoutMs, left);
      }
      let response: HttpResponse;
      try {
        response = await http.post(url, headers, JSON.stringify({ query, variables }), { timeoutMs });
      } catch (error) {
        if (deadline !== undefined && Date.now() >= deadline) throw deadlineExceeded();
        logger.warn({ err: error, target, url }, 'service call failed');
        throw new AppError('SERVICE_UNAVAILABLE', `${target} did not answer.`, { service: target });
      }
      let body: GraphQLResponse<TData>;
      try {
        body = (await response.json()) as GraphQLResponse<TData>;
      } catch {
        logger.warn({ target, url, status: response.status }, 'service call answered without JSON');
        throw new AppError(response.status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR', `${target} answered ${response.status}.`, { service: target });
      }
      if (body.errors?.length) {
        const [first] = body.errors;
        const code = first.extensions?.code;
        const { code: _code, stacktrace: _stacktrace, ...details } = first.extensions ?? {};
        throw calleeError(target, code, first.message, details);
      }
      if (!body.data) throw new AppError('INTERNAL_SERVER_ERROR', `${target} answered without data.`, { service: target });
      return body.data;
    },
  };
}
