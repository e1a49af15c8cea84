/**
 * The one place the router depends on @apollo/gateway beyond its public API: ForwardingDataSource
 * (router/subgraph-data-source.ts) replaces RemoteGraphQLDataSource's TypeScript-private `sendRequest`
 * (a plain method at run time, called by `process()` after `willSendRequest`) to send fetches over the
 * router's keep-alive client. Checked when the router starts, so an upgrade that renames it fails at
 * once instead of silently sending every fetch through `fetch`.
 */
import { RemoteGraphQLDataSource } from '@apollo/gateway';

export function assertGatewayInternals(): void {
  const sendRequest = (RemoteGraphQLDataSource.prototype as unknown as Record<string, unknown>).sendRequest;
  if (typeof sendRequest !== 'function') {
    throw new Error('@apollo/gateway changed: RemoteGraphQLDataSource.prototype.sendRequest is gone (router/subgraph-data-source.ts replaces it). Pin the previous @apollo/gateway or adapt the data source.');
  }
}
