import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import { REQUEST_DEADLINE_HEADER, type RequestContext } from '../platform/context.ts';
import { deadlineExceeded } from '../platform/errors.ts';
import { ResponseTooLargeError, UpstreamTimeoutError, type HttpClient, type HttpResponse } from '../platform/http-client.ts';
import { limitRefusal } from './edge/features/operation-limits.ts';

/**
 * A subgraph answer the router already holds for this request: the passthrough fast path sent the
 * operation itself, got errors back, and hands the request to Apollo Server so the errors are shaped
 * exactly as the gateway shapes them. The data source replays the answer instead of sending the
 * operation again (a mutation must run once).
 */
export interface ReplayedAnswer {
  /** The subgraph operation the answer belongs to (the query plan's fetch). */
  readonly query: string;
  readonly outcome: { response: HttpResponse } | { error: unknown };
}

/**
 * The router's request context: the platform's, plus an answer to replay (passthrough fallback) and the
 * execution bounds the edge set (router/edge/features/execution-bounds.ts): the deadline (epoch ms) every
 * subgraph call honours, and the largest subgraph answer read.
 */
export type RouterContext = RequestContext & { replay?: ReplayedAnswer; deadline?: number; maxResponseBytes?: number };

type SubgraphRequest = Parameters<RemoteGraphQLDataSource<RouterContext>['process']>[0]['request'];

/**
 * Sends subgraph fetches over the router's keep-alive client and forwards the caller's token, the
 * W3C trace context and the request id, so every subgraph verifies the caller itself and logs under
 * the same ids. Nothing else from the client's request reaches a subgraph (an allow-list).
 */
export class ForwardingDataSource extends RemoteGraphQLDataSource<RouterContext> {
  readonly #client: HttpClient;

  constructor(url: string, client: HttpClient) {
    // The fetcher is never called (sendRequest below uses the client); the parent requires one.
    super({ url, fetcher: fetch as unknown as Fetcher });
    this.#client = client;
    // RemoteGraphQLDataSource.sendRequest is TypeScript-private (a plain method at run time, called by
    // process() after willSendRequest): this replaces it for this data source only.
    Reflect.set(this, 'sendRequest', this.#send.bind(this));
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<RouterContext>) {
    const headers = request.http?.headers;
    if (!headers || !('requestId' in context)) return; // health checks and schema loading have no caller
    if (context.authorization) headers.set('authorization', context.authorization);
    headers.set('traceparent', context.trace.traceparent);
    headers.set('x-request-id', context.requestId);
    if (context.deadline !== undefined) headers.set(REQUEST_DEADLINE_HEADER, String(context.deadline));
  }

  /** RemoteGraphQLDataSource.sendRequest, minus the node-fetch Request it builds only for error hooks we do not use. */
  async #send(request: SubgraphRequest, context: RouterContext): Promise<object> {
    if (!request.http) throw new Error("Internal error: Only 'http' requests are supported.");
    const { http, ...operation } = request;
    const replay = context.replay;
    let response: HttpResponse;
    if (replay && replay.query === operation.query) {
      context.replay = undefined; // an answer is replayed once
      if ('error' in replay.outcome) throw replay.outcome.error;
      response = replay.outcome.response;
      if (context.maxResponseBytes !== undefined && Buffer.byteLength(response.body) > context.maxResponseBytes) throw limitRefusal('RESPONSE_TOO_LARGE', context.maxResponseBytes, undefined, true);
    } else {
      // Only the time left before the request's deadline; none left: the subgraph is not called.
      const { deadline, maxResponseBytes } = context;
      const timeoutMs = deadline === undefined ? undefined : deadline - Date.now();
      if (timeoutMs !== undefined && timeoutMs <= 0) throw deadlineExceeded();
      try {
        response = await this.#client.post(http.url, Object.fromEntries(http.headers), JSON.stringify(operation), { timeoutMs, maxBodyBytes: maxResponseBytes });
      } catch (error) {
        if (error instanceof UpstreamTimeoutError && timeoutMs !== undefined) throw deadlineExceeded();
        if (error instanceof ResponseTooLargeError) throw limitRefusal('RESPONSE_TOO_LARGE', error.limit, undefined, true);
        throw error;
      }
    }
    // A subgraph that refused work past the deadline says so (503, DEADLINE_EXCEEDED): the client hears it as such.
    if (response.status === 503 && response.body.includes('"DEADLINE_EXCEEDED"')) throw deadlineExceeded();
    if (!response.ok) throw await this.errorFromResponse(response as never);
    const body = await this.parseBody(response as never);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error(`Expected JSON response body, but received: ${body}`);
    return { ...(body as object), http: response as never };
  }
}
