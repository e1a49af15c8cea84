import type http from 'node:http';
import type net from 'node:net';

/**
 * Graceful HTTP/1.1 shutdown for keep-alive connections.
 *
 * The hazard: a kept-alive connection with no request in flight looks idle to the server, but its
 * client may be sending the next request at that very moment. Closing it then (what
 * `http.Server.close()` does at once, through `closeIdleConnections()`) makes the kernel answer that
 * request with a reset: the client sees ECONNRESET or "socket hang up" with no answer, and cannot tell
 * whether the request ran. So while draining:
 *
 * - the listener closes (a new connection is refused cleanly) but kept-alive connections are not cut;
 * - every answer not yet begun, whether its request arrived before or during the drain, carries
 *   `Connection: close`, and Node closes the connection once it is written: the client knows not to
 *   reuse it, and there is no race;
 * - a connection that stays idle for `idleGraceMs` (its client had the time to send another request and
 *   did not) is closed; a client that sends after that long a pause is the only one left to the race,
 *   the same one a server's keep-alive timeout has;
 * - at the deadline whatever is left is cut (requests slower than the shutdown budget).
 *
 * Upgraded connections (WebSockets) are not HTTP connections any more: their owner closes them.
 */
export interface ConnectionDrainer {
  readonly draining: boolean;
  /** From now on every answer not yet begun carries `Connection: close`; connections stay open. */
  markDraining(): void;
  /** Marks (markDraining), stops listening, closes connections as they finish. Resolves once every connection has closed, or at the deadline after cutting the rest. */
  drain(options: { timeoutMs: number; idleGraceMs: number }): Promise<DrainOutcome>;
}

export interface DrainOutcome {
  /** Connections still open at the deadline, cut with their requests. */
  cut: number;
}

interface Tracked {
  /** Requests received on this connection and not yet answered (more than one with pipelining). */
  active: number;
  /** When it last became idle (accepted, or its last answer finished). */
  idleSince: number;
}

const SWEEP_INTERVAL_MS = 50;

/** Call after the server's 'upgrade' listeners are attached, before it listens. */
export function trackConnections(server: http.Server): ConnectionDrainer {
  const connections = new Map<net.Socket, Tracked>();
  const unanswered = new Set<http.ServerResponse>();
  let draining = false;

  server.on('connection', (socket: net.Socket) => {
    connections.set(socket, { active: 0, idleSince: performance.now() });
    socket.once('close', () => connections.delete(socket));
  });
  // First among the 'request' listeners: the handler may answer synchronously (health checks).
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const tracked = connections.get(req.socket);
    if (tracked) tracked.active += 1;
    if (draining) res.setHeader('connection', 'close');
    else unanswered.add(res);
    res.once('close', () => {
      unanswered.delete(res);
      if (tracked) {
        tracked.active -= 1;
        tracked.idleSince = performance.now();
      }
    });
  });
  // An upgraded socket (a WebSocket) is its new owner's to close. Node hands it to the 'upgrade' listeners
  // only when there are some (otherwise it destroys it): adding one where there is none would leave it hanging.
  if (server.listenerCount('upgrade') > 0) server.prependListener('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => void connections.delete(socket));

  function markDraining() {
    if (draining) return;
    draining = true;
    // Answers already being prepared close their connection too, unless their headers are out.
    for (const res of unanswered) if (!res.headersSent) res.setHeader('connection', 'close');
    unanswered.clear();
  }

  return {
    get draining() {
      return draining;
    },
    markDraining,
    async drain({ timeoutMs, idleGraceMs }) {
      markDraining();
      // http.Server's close stops listening (and its header-timeout timer), but it also closes every idle
      // kept-alive connection at once: that one step is held back for the sweep below to do with a grace.
      const closed = new Promise<void>((resolve) => {
        server.closeIdleConnections = () => {};
        try {
          server.close(() => resolve());
        } finally {
          delete (server as Partial<Pick<http.Server, 'closeIdleConnections'>>).closeIdleConnections;
        }
      });
      const sweep = () => {
        const now = performance.now();
        for (const [socket, tracked] of connections) {
          if (tracked.active === 0 && now - tracked.idleSince >= idleGraceMs) {
            connections.delete(socket);
            socket.destroy();
          }
        }
      };
      sweep();
      const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<DrainOutcome>((resolve) => {
        deadline = setTimeout(() => {
          const cut = connections.size;
          server.closeAllConnections();
          for (const socket of connections.keys()) socket.destroy();
          resolve({ cut });
        }, timeoutMs);
      });
      try {
        return await Promise.race([closed.then(() => ({ cut: 0 })), timedOut]);
      } finally {
        clearInterval(sweeper);
        clearTimeout(deadline);
      }
    },
  };
}
