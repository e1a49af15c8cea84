/**
 * How the simulated apps talk to the router: GraphQL over HTTP (fetch) and subscriptions over
 * graphql-ws, to the one router URL they were given and nowhere else (redirects are refused).
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A GraphQL error (or a failed request) with the `extensions.code` clients branch on. */
export class ApiError extends Error {
  readonly code: string;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(message: string, code: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.extensions = extensions;
  }
}

/** Codes worth retrying as they are: the router or a subgraph was briefly unable to answer. */
const TRANSIENT_CODES = new Set(['NETWORK', 'TIMEOUT', 'SERVICE_UNAVAILABLE', 'INTERNAL_SERVER_ERROR', 'RATE_LIMITED', 'HTTP_5XX']);

export const isTransient = (error: unknown) => !(error instanceof ApiError) || TRANSIENT_CODES.has(error.code);

export interface RouterClientOptions {
  /** Told of every failed request by code (the simulator's error counts). */
  onError?(code: string): void;
  /** A request that takes longer fails with TIMEOUT (default 10 s). */
  timeoutMs?: number;
}

export interface Subscription {
  /** Ends the operation and closes its socket; resolves once the socket is closed. */
  close(): Promise<void>;
}

export interface SubscriptionSink<T> {
  next(data: T): void;
  /** The stream failed (the router refused it, the socket closed for good, the token expired). */
  error(error: ApiError): void;
  /** The server ended the stream (a tripUpdates stream after the trip ended). */
  complete(): void;
}

export class RouterClient {
  readonly url: string;
  readonly #options: RouterClientOptions;

  constructor(url: string, options: RouterClientOptions = {}) {
    this.url = url;
    this.#options = options;
  }

  /** One operation over HTTP; its data, or an ApiError carrying the first error's code. */
  async request<T>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
    try {
      return await this.#request<T>(query, variables, token);
    } catch (error) {
      const failure = asApiError(error);
      this.#options.onError?.(failure.code);
      throw failure;
    }
  }

  async #request<T>(query: string, variables: Record<string, unknown>, token: string | undefined): Promise<T> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
      redirect: 'error',
      signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    let body: { data?: T | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(`HTTP ${response.status}: ${text.slice(0, 120)}`, response.status >= 500 ? 'HTTP_5XX' : `HTTP_${response.status}`);
    }
    const [first] = body.errors ?? [];
    if (first) throw new ApiError(first.message, String(first.extensions?.code ?? 'UNKNOWN'), first.extensions ?? {});
    if (!body.data) throw new ApiError(`HTTP ${response.status} without data`, `HTTP_${response.status}`);
    return body.data;
  }

  /**
   * A subscription on its own graphql-ws socket; `token` is read at every (re)connection. A fatal
   * close (4401 when the token expires) ends it through `sink.error`: the caller subscribes again
   * with a fresh token, and the stream starts again from the current state.
   */
  subscribe<T>(token: () => string, query: string, variables: Record<string, unknown>, sink: SubscriptionSink<T>): Subscription {
    const client: Client = createClient({
      url: this.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: () => ({ authorization: `Bearer ${token()}` }),
      lazy: true,
      retryAttempts: 3,
    });
    // Whether a socket exists (from its creation to its close event), so close() knows to wait for one.
    let socketLive = false;
    let closed: (() => void) | undefined;
    client.on('connecting', () => {
      socketLive = true;
    });
    client.on('closed', () => {
      socketLive = false;
      closed?.();
    });
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      return true;
    };
    const unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          if (ended) return;
          const [first] = result.errors ?? [];
          if (first || !result.data) {
            if (end()) sink.error(new ApiError(first?.message ?? 'event without data', String(first?.extensions?.code ?? 'UNKNOWN'), first?.extensions ?? {}));
            return;
          }
          sink.next(result.data);
        },
        error: (error) => {
          if (end()) sink.error(asApiError(error));
        },
        complete: () => {
          if (end()) sink.complete();
        },
      },
    );
    return {
      close: async () => {
        end();
        const socketClosed = socketLive ? new Promise<void>((resolve) => (closed = resolve)) : Promise.resolve();
        unsubscribe();
        await client.dispose();
        // A socket still handshaking may never report its close: do not wait for it forever.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([socketClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, 3_000)))]);
        clearTimeout(timer);
      },
    };
  }
}

/** Any failure as an ApiError: GraphQL errors keep their code; a close event, a timeout or a network failure get one. */
function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (Array.isArray(error) && error[0]?.message) {
    return new ApiError(error[0].message, String(error[0].extensions?.code ?? 'UNKNOWN'), error[0].extensions ?? {});
  }
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'number') {
    const close = error as { code: number; reason?: string };
    return new ApiError(`socket closed ${close.code} ${close.reason ?? ''}`.trim(), close.code === 4401 ? 'UNAUTHENTICATED' : `CLOSE_${close.code}`);
  }
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return new ApiError('the request timed out', 'TIMEOUT');
  return new ApiError((error as Error | undefined)?.message ?? String(error), 'NETWORK');
}
