import http from 'node:http';
import https from 'node:https';

/**
 * The HTTP client for calls between our own services (router → subgraph, subgraph → subgraph): one
 * keep-alive pool per client, and a response that is just what callers need (status, headers, the
 * body as text). Node's `fetch` builds WHATWG streams, a Request and a Headers object per call; on the
 * ingest path that cost more CPU than the rest of the router's work for an update.
 *
 * The response has the shape @apollo/gateway's RemoteGraphQLDataSource reads (`ok`, `status`,
 * `statusText`, `url`, `headers.get`, `text()`, `json()`), so its error and body handling stay the gateway's own.
 */
export interface HttpResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  /** The whole body, already read. */
  readonly body: string;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export interface HttpClient {
  /**
   * Rejects on a network error, when the whole exchange takes longer than the timeout, or (with
   * ResponseTooLargeError, the connection dropped) as soon as the answer passes `maxBodyBytes`.
   */
  post(url: string, headers: Record<string, string>, body: string, options?: PostOptions): Promise<HttpResponse>;
  /** Closes idle pooled connections (router shutdown). */
  close(): void;
}

export interface PostOptions {
  timeoutMs?: number;
  /** The largest answer body read, in bytes; unlimited when absent. */
  maxBodyBytes?: number;
}

/** An answer larger than the caller's `maxBodyBytes`: not read further. */
export class ResponseTooLargeError extends Error {
  readonly limit: number;

  constructor(url: string, limit: number) {
    super(`${url} answered more than ${limit} bytes.`);
    this.name = 'ResponseTooLargeError';
    this.limit = limit;
  }
}

/** Why a post failed on its deadline (the message names the URL and the time). */
export class UpstreamTimeoutError extends Error {
  constructor(url: string, timeoutMs: number) {
    super(`${url} did not answer within ${timeoutMs} ms.`);
    this.name = 'UpstreamTimeoutError';
  }
}

export interface HttpClientOptions {
  /** Per-request deadline (ms) for the whole exchange. Default 30 s. */
  timeoutMs?: number;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const defaultTimeoutMs = options.timeoutMs ?? 30_000;
  // LIFO keeps a few hot connections busy instead of spreading requests over every idle socket.
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 512, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 512, scheduling: 'lifo' }),
  };
  const parsedUrls = new Map<string, URL>();

  return {
    post(url, headers, body, callOptions = {}) {
      const timeoutMs = callOptions.timeoutMs ?? defaultTimeoutMs;
      const maxBodyBytes = callOptions.maxBodyBytes;
      let target = parsedUrls.get(url);
      if (!target) parsedUrls.set(url, (target = new URL(url)));
      const transport = target.protocol === 'https:' ? https : http;
      return new Promise<HttpResponse>((resolve, reject) => {
        const request = transport.request(
          target,
          {
            method: 'POST',
            agent: agents[target.protocol as 'http:' | 'https:'],
            headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          },
          (response) => {
            if (maxBodyBytes !== undefined && Number(response.headers['content-length']) > maxBodyBytes) {
              request.destroy(new ResponseTooLargeError(url, maxBodyBytes));
              return;
            }
            response.setEncoding('utf8');
            let text = '';
            let bytes = 0;
            response.on('data', (chunk: string) => {
              text += chunk;
              if (maxBodyBytes !== undefined && (bytes += Buffer.byteLength(chunk)) > maxBodyBytes) request.destroy(new ResponseTooLargeError(url, maxBodyBytes));
            });
            response.on('error', reject);
            response.on('end', () => resolve(upstreamResponse(url, response, text)));
          },
        );
        // A deadline for the whole exchange (a socket timeout would only catch silence).
        const deadline = setTimeout(() => request.destroy(new UpstreamTimeoutError(url, timeoutMs)), timeoutMs);
        request.on('error', reject);
        request.on('close', () => clearTimeout(deadline));
        request.end(body);
      });
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

function upstreamResponse(url: string, response: http.IncomingMessage, body: string): HttpResponse {
  const status = response.statusCode ?? 0;
  const headers = response.headers;
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? '',
    url,
    headers: {
      get(name) {
        const value = headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body,
    text: async () => body,
    json: async () => JSON.parse(body),
  };
}
