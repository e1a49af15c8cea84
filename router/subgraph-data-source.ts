import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import type { RequestContext } from '../platform/context.ts';
import type { HttpClient, HttpResponse } from '../platform/http-client.ts';

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

/** The router's request context: the platform's, plus an answer to replay (passthrough fallback). */
export type RouterContext = RequestContext & { replay?: ReplayedAnswer };

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
    } else {
      response = await this.#client.post(http.url, Object.fromEntries(http.headers), JSON.stringify(operation));
    }
    if (!response.ok) throw await this.errorFromResponse(response as never);
    const body = await this.parseBody(response as never);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error(`Expected JSON response body, but received: ${body}`);
    return { ...(body as object), http: response as never };
  }
}
