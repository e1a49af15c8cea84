import { EventEmitter, once } from 'node:events';
import WebSocket from 'ws';

export interface ServerMessage {
  id?: string;
  type: string;
  payload?: any;
}

export interface Closed {
  code: number;
  reason: string;
}

/**
 * A bare graphql-transport-ws client for the tests: every frame is visible, nothing retries, and the
 * socket can stop reading (a slow consumer) and start again.
 */
export class TestSocket {
  readonly socket: WebSocket;
  /** Resolves when the socket closes, with the code and reason the server chose. */
  readonly closed: Promise<Closed>;
  readonly #messages: ServerMessage[] = [];
  readonly #arrived = new EventEmitter().setMaxListeners(0);
  #isClosed = false;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => {
        this.#isClosed = true;
        resolve({ code, reason: reason.toString() });
        this.#arrived.emit('message');
      }),
    );
    socket.on('message', (data) => {
      this.#messages.push(JSON.parse(data.toString()));
      this.#arrived.emit('message');
    });
  }

  /** Opens a socket to the router's /graphql (http URL accepted) with the graphql-transport-ws subprotocol. */
  static async open(url: string, protocol: string | null = 'graphql-transport-ws'): Promise<TestSocket> {
    const socket = protocol === null ? new WebSocket(url.replace(/^http/, 'ws')) : new WebSocket(url.replace(/^http/, 'ws'), protocol);
    const client = new TestSocket(socket);
    await once(socket, 'open');
    return client;
  }

  /** Opens, sends connection_init with this token, and waits for connection_ack. */
  static async connect(url: string, token: string): Promise<TestSocket> {
    const client = await TestSocket.open(url);
    client.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
    const ack = await client.take((message) => message.type === 'connection_ack');
    if (!ack) throw new Error(`no connection_ack: closed with ${JSON.stringify(await client.closed)}`);
    return client;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(message: unknown) {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  subscribe(id: string, query: string, variables?: Record<string, unknown>) {
    this.send({ id, type: 'subscribe', payload: { query, variables } });
  }

  complete(id: string) {
    this.send({ id, type: 'complete' });
  }

  /** The first not-yet-taken message that matches, waiting for it; undefined if the socket closes first. */
  async take(matches: (message: ServerMessage) => boolean): Promise<ServerMessage | undefined> {
    for (;;) {
      const index = this.#messages.findIndex(matches);
      if (index >= 0) return this.#messages.splice(index, 1)[0];
      if (this.#isClosed) return undefined;
      await once(this.#arrived, 'message');
    }
  }

  /** The next message of operation `id` (next, error or complete). */
  async next(id: string): Promise<ServerMessage> {
    const message = await this.take((candidate) => candidate.id === id);
    if (!message) throw new Error(`socket closed with ${JSON.stringify(await this.closed)} while waiting for operation ${id}`);
    return message;
  }

  /** Stops reading from the TCP socket: the router's writes back up, as with a slow phone on a bad network. */
  pause() {
    this.socket.pause();
  }

  resume() {
    this.socket.resume();
  }

  async close() {
    if (this.#isClosed) return;
    this.socket.close(1000, 'done');
    await this.closed;
  }
}
