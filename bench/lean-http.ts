/**
 * The load generator's HTTP/1.1 client: keep-alive sockets, one request at a time on each, every request
 * written as one buffer and every response parsed just enough (status, Content-Length or chunked body).
 *
 * Why not node:http: on this 2-CPU machine the load generator shares the CPUs with the services it
 * measures. node:http's ClientRequest/IncomingMessage machinery cost the generator about 0.08 ms of CPU
 * per request at 3,500/s (bench:ingest prints CPU by process), CPU the services under test then lacked.
 * wrk and autocannon avoid it the same way. Only for our own servers: no redirects, no 1xx, no trailers.
 */
import net from 'node:net';

export interface LeanResponse {
  status: number;
  body: string;
}

interface Pending {
  resolve(response: LeanResponse): void;
  reject(error: Error): void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection; requests on it are strictly sequential. */
class LeanConnection {
  private readonly socket: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  closed = false;

  constructor(host: string, port: number, onClose: (connection: LeanConnection) => void) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      this.closed = true;
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(error);
      onClose(this);
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
  }

  send(request: Buffer | string): Promise<LeanResponse> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(request);
    });
  }

  destroy() {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer) {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headerEnd);
    const status = Number(head.slice(9, 12));
    const start = headerEnd + 4;
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: string;
    let consumed: number;
    if (length) {
      consumed = start + Number(length[1]);
      if (this.buffered.length < consumed) return;
      body = this.buffered.toString('utf8', start, consumed);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const parsed = parseChunked(this.buffered, start);
      if (!parsed) return;
      ({ body, consumed } = parsed);
    } else {
      // Our servers always send one or the other; anything else ends this connection, not the run.
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(Object.assign(new Error(`response without a length: ${head.split('\r\n')[0]}`), { code: 'BAD_RESPONSE' }));
      this.destroy();
      return;
    }
    this.buffered = this.buffered.subarray(consumed);
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve({ status, body });
  }
}

/** A complete chunked body starting at `from`, or undefined while more bytes are needed. */
function parseChunked(buffer: Buffer, from: number): { body: string; consumed: number } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buffer.toString('latin1', at, lineEnd), 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      if (buffer.length < dataStart + 2) return undefined;
      return { body: Buffer.concat(parts).toString('utf8'), consumed: dataStart + 2 };
    }
    if (buffer.length < dataStart + size + 2) return undefined;
    parts.push(buffer.subarray(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
}

/** Up to `size` keep-alive connections to one server; a request waits for a free one. */
export class LeanHttpPool {
  private readonly idle: LeanConnection[] = [];
  private readonly waiting: Array<(connection: LeanConnection) => void> = [];
  private opened = 0;
  private readonly url: URL;
  private readonly size: number;

  constructor(url: string, size: number) {
    this.url = new URL(url);
    this.size = size;
  }

  /** POSTs a JSON body with the given headers (one header per line, "name: value"). */
  async post(body: string, headerLines: string): Promise<LeanResponse> {
    const request = `POST ${this.url.pathname} HTTP/1.1\r\nhost: ${this.url.host}\r\ncontent-type: application/json\r\n${headerLines}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const connection = await this.acquire();
    try {
      return await connection.send(request);
    } finally {
      this.release(connection);
    }
  }

  close() {
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  private acquire(): Promise<LeanConnection> | LeanConnection {
    const free = this.idle.pop();
    if (free) return free;
    if (this.opened < this.size) {
      this.opened += 1;
      return new LeanConnection(this.url.hostname, Number(this.url.port || 80), (closed) => this.forget(closed));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(connection: LeanConnection) {
    if (connection.closed) return;
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }

  private forget(connection: LeanConnection) {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    this.opened -= 1;
    // A waiter would otherwise wait for a connection that is gone: open a new one for it.
    const next = this.waiting.shift();
    if (next) {
      this.opened += 1;
      next(new LeanConnection(this.url.hostname, Number(this.url.port || 80), (closed) => this.forget(closed)));
    }
  }
}
