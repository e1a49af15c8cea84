import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import type { RequestContext } from '../platform/context.ts';

/**
 * Sends subgraph fetches over Node's fetch (undici: pooled keep-alive connections) and forwards the
 * caller's token, the W3C trace context and the request id, so every subgraph verifies the caller
 * itself and logs under the same ids.
 */
export class ForwardingDataSource extends RemoteGraphQLDataSource<RequestContext> {
  constructor(url: string) {
    super({ url, fetcher: fetch as unknown as Fetcher });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<RequestContext>) {
    const headers = request.http?.headers;
    if (!headers || !('requestId' in context)) return; // health checks and schema loading have no caller
    if (context.authorization) headers.set('authorization', context.authorization);
    headers.set('traceparent', context.trace.traceparent);
    headers.set('x-request-id', context.requestId);
  }
}
