import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from '../../platform/logger.ts';
import type { UpstreamRequest, UpstreamSink, UpstreamTransport } from './engine.ts';
import type { UpstreamEvent } from './resolve.ts';

export interface UpstreamOptions {
  logger: Logger;
  /** Protocol pings to each subgraph when idle (default 10 000 ms). */
  keepAliveMs?: number;
  /**
   * A subgraph that sends nothing at all (no pong, no event) for this long after a ping is presumed
   * dead; the socket is cut and retried (default 15 000 ms). Generous on purpose: a busy subgraph answers
   * pings late, and cutting it would make it resubscribe everything at once.
   */
  pongTimeoutMs?: number;
  /** First reconnect delay; doubles per attempt up to maxRetryDelayMs, with jitter (default 100 ms). */
  retryDelayMs?: number;
  /** Default 5 000 ms. Retries never stop: a subgraph restart is survived however long it takes. */
  maxRetryDelayMs?: number;
  /** How long a connection stays open after its last operation ended (default 10 000 ms). */
  idleCloseMs?: number;
}

export interface GraphqlWsUpstream extends UpstreamTransport {
  /** Sockets to subgraphs currently connected. */
  connections(): number;
}

/**
 * The router's side of router ↔ subgraph: one graphql-ws client per subgraph URL, shared by every
 * operation (multiplexed), connected lazily, reconnected with backoff forever. graphql-ws re-sends each
 * active operation after a reconnect, so a restarted subgraph gets every subscription back.
 */
export function createGraphqlWsUpstream(options: UpstreamOptions): GraphqlWsUpstream {
  const { logger } = options;
  const clients = new Map<string, Client>();
  const waits = new Set<() => void>();
  let connected = 0;
  let closed = false;

  /** A backoff wait that shutdown can cut short. */
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waits.add(done);
    });

  function clientFor(subgraph: string, url: string): Client {
    const wsUrl = toWebSocketUrl(url);
    let client = clients.get(wsUrl);
    if (client) return client;
    const base = options.retryDelayMs ?? 100;
    const max = options.maxRetryDelayMs ?? 5_000;
    let pongTimer: NodeJS.Timeout | undefined;
    let up = false;
    client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      lazy: true,
      lazyCloseTimeout: options.idleCloseMs ?? 10_000,
      keepAlive: options.keepAliveMs ?? 10_000,
      connectionAckWaitTimeout: 10_000,
      retryAttempts: Infinity,
      // Connection refused arrives as an error event, not a close event: retry on everything that is not fatal.
      shouldRetry: () => !closed,
      retryWait: (retries) => wait(Math.min(max, base * 2 ** retries) * (0.5 + Math.random() / 2)),
      on: {
        connected: (_socket, _payload, wasRetry) => {
          up = true;
          connected += 1;
          if (wasRetry) logger.info({ subgraph }, 'subscription upstream reconnected; operations resubscribed');
        },
        closed: (event) => {
          clearTimeout(pongTimer);
          if (up) connected -= 1;
          up = false;
          if (!closed) logger.debug({ subgraph, code: (event as { code?: number }).code }, 'subscription upstream closed');
        },
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => {
            logger.warn({ subgraph }, 'subscription upstream missed a pong; reconnecting');
            client!.terminate();
          }, options.pongTimeoutMs ?? 15_000);
        },
        // Any frame from the subgraph (a pong, an event) proves it alive.
        message: () => clearTimeout(pongTimer),
      },
    });
    clients.set(wsUrl, client);
    return client;
  }

  return {
    subscribe(target, request, sink: UpstreamSink) {
      if (closed) {
        sink.error([unavailable(target.subgraph)]);
        return () => undefined;
      }
      return clientFor(target.subgraph, target.url).subscribe(livePayload(request), {
        next: (value) => sink.next(value as UpstreamEvent),
        // An array is the subgraph's `error` message; anything else is a connection problem graphql-ws deems fatal.
        error: (error) => sink.error(Array.isArray(error) ? (error as GraphQLFormattedError[]) : [unavailable(target.subgraph)]),
        complete: () => sink.complete(),
      });
    },
    connections: () => connected,
    async close() {
      closed = true;
      for (const done of [...waits]) done();
      await Promise.all(
        [...clients.values()].map(async (client) => {
          const disposing = Promise.resolve(client.dispose()).catch(() => undefined);
          client.terminate();
          await disposing;
        }),
      );
      clients.clear();
    },
  };
}

/**
 * The subscribe payload, read afresh each time graphql-ws sends it (first subscribe and every
 * resubscribe): credentials follow the freshest subscriber of the group.
 */
function livePayload(request: () => UpstreamRequest) {
  return {
    get query() {
      return request().query;
    },
    get operationName() {
      return request().operationName;
    },
    get variables() {
      return request().variables;
    },
    get extensions() {
      return request().extensions;
    },
  };
}

export function toWebSocketUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

function unavailable(subgraph: string): GraphQLFormattedError {
  return { message: `The ${subgraph} service cannot serve this subscription right now.`, extensions: { code: 'SERVICE_UNAVAILABLE' } };
}
