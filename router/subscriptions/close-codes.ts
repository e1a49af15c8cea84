import { CloseCodes as PlatformCloseCodes } from '../../platform/subscription-server.ts';

/**
 * Every way the router ends a client's WebSocket, by name (router/subscriptions/PROTOCOL.md, "Close codes").
 * 4400–4499 are graphql-ws's own protocol codes; 1001/1012 tell apps to reconnect (elsewhere / shortly).
 */
export const SubscriptionCloseCodes = {
  /** The router is shutting down: reconnect (another replica will answer). */
  GOING_AWAY: PlatformCloseCodes.GOING_AWAY,
  /** A frame larger than the limit (ws closes the socket itself). */
  MESSAGE_TOO_BIG: 1009,
  /** The router is restarting (a deploy): reconnect shortly. */
  SERVICE_RESTART: PlatformCloseCodes.SERVICE_RESTART,
  /** A binary frame, text that is not JSON, a malformed message, or a message only a server may send. */
  BAD_REQUEST: 4400,
  /** Missing, malformed, invalid or expired token in connection_init (or it expired while connected); subscribe before connection_ack. */
  UNAUTHORIZED: PlatformCloseCodes.UNAUTHORIZED,
  /** An edge feature refused the connection for another reason than its credential or a rate limit. */
  FORBIDDEN: 4403,
  /** The client did not offer the graphql-transport-ws subprotocol. */
  SUBPROTOCOL_NOT_ACCEPTABLE: 4406,
  /** No connection_init within the wait (default 3 s). */
  CONNECTION_INITIALISATION_TIMEOUT: 4408,
  /** A subscribe message reused the id of an operation still running on this socket. */
  SUBSCRIBER_ALREADY_EXISTS: 4409,
  /** A second connection_init on one socket. */
  TOO_MANY_INITIALISATION_REQUESTS: 4429,
  /** A rate limit refused connection_init (too many sockets or attempts), or the edge could not decide: reconnect later, with backoff (RFC 6455's Try Again Later; graphql-ws clients retry it). */
  TRY_AGAIN_LATER: 1013,
  /** A fault of the router's own; the client may retry. */
  INTERNAL_SERVER_ERROR: 4500,
} as const;

export type SubscriptionCloseCode = (typeof SubscriptionCloseCodes)[keyof typeof SubscriptionCloseCodes];
