import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../platform/logger.ts';
import type { ReadinessReport } from '../platform/server.ts';

/**
 * The router's readiness: can this replica reach the subgraphs it routes to?
 *
 * Each subgraph's `health/ready` (beside its GraphQL URL) is asked, all at once, and the answers are
 * kept for `cacheMs`: however often /health/ready is called, a replica sends at most one round of
 * probes per `cacheMs` (concurrent callers share the round in flight), each bounded by `timeoutMs`.
 * A subgraph is up when it answers below 500 (a subgraph of another team without health routes
 * answers 404: it is reachable); down when it answers 5xx (unready, draining), times out or refuses.
 *
 * Policy: the router is unready only when **no** subgraph is up, the state in which it can answer
 * nothing but errors. With some subgraphs down it stays ready and says so in the body
 * (`status: "degraded"`, each subgraph's state under `details.subgraphs`). A subgraph outage is
 * seen by every router replica at once: were one unreachable subgraph enough to go unready, Kubernetes
 * would take every replica out of the Service together, a total outage turning "trips are failing"
 * into "nothing answers", sign-in and live positions included. What unreadiness does catch is a
 * replica that alone lost its way to the subgraphs (its node's network, its DNS): only that replica
 * leaves the Service. When every subgraph is down for every replica, all of them go unready
 * together, but then none could have served anything anyway (and WebSockets already open stay open:
 * readiness only steers new connections); the probes go on, and each replica is
 * ready again within `cacheMs` of a subgraph answering, with nothing restarted.
 */
export interface SubgraphReadinessOptions {
  /** Subgraph name → GraphQL URL, read at every round (a reloaded supergraph may change them). */
  urls: () => Readonly<Record<string, string>>;
  logger: Logger;
  /** How long a round's answers are reused. Default 2000. */
  cacheMs?: number;
  /** The longest a probe may take; a slower subgraph counts as down. Default 1000. */
  timeoutMs?: number;
}

export type SubgraphState = 'ok' | 'unready' | 'unreachable';

export interface SubgraphReadiness {
  check(): Promise<ReadinessReport>;
  /** Closes the probes' pooled connections. */
  close(): void;
}

export function subgraphReadiness(options: SubgraphReadinessOptions): SubgraphReadiness {
  const cacheMs = options.cacheMs ?? 2_000;
  const timeoutMs = options.timeoutMs ?? 1_000;
  // Kept-alive connections, one per subgraph and round: a round sends one probe per subgraph, so the
  // sockets are bounded by the subgraphs (several may share a host: a slow one must not queue the others).
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  let last: { at: number; report: ReadinessReport } | undefined;
  let round: Promise<ReadinessReport> | undefined;
  const previous = new Map<string, SubgraphState>();

  async function probeAll(): Promise<ReadinessReport> {
    const entries = Object.entries(options.urls());
    const states = await Promise.all(entries.map(([, url]) => probe(new URL('health/ready', url))));
    const detail: Record<string, SubgraphState> = {};
    entries.forEach(([name], index) => {
      const state = states[index]!;
      detail[name] = state;
      if (previous.get(name) !== state) {
        if (state === 'ok') options.logger.info({ subgraph: name }, 'subgraph is reachable');
        else options.logger.warn({ subgraph: name, state }, 'subgraph is down');
        previous.set(name, state);
      }
    });
    const up = states.filter((state) => state === 'ok').length;
    const ready = up > 0 || entries.length === 0;
    return { ready, status: !ready ? 'failing' : up === entries.length ? 'ok' : 'degraded', detail };
  }

  function probe(url: URL, retried = false): Promise<SubgraphState> {
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      const request = transport.get(url, { agent: agents[url.protocol as 'http:' | 'https:'], headers: { accept: 'application/json' } }, (response) => {
        response.resume();
        // Closed after the whole answer, or cut short (then the subgraph is not answering properly).
        response.once('close', () => resolve(!response.complete ? 'unreachable' : (response.statusCode ?? 500) < 500 ? 'ok' : 'unready'));
      });
      const deadline = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      request.once('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive connection the subgraph closed as this probe went out (it is draining): ask again, once, on a new one.
        if (request.reusedSocket && error.code === 'ECONNRESET' && !retried) resolve(probe(url, true));
        else resolve('unreachable');
      });
      request.once('close', () => clearTimeout(deadline));
    });
  }

  return {
    async check() {
      if (last && performance.now() - last.at < cacheMs) return last.report;
      round ??= probeAll().then(
        (report) => {
          last = { at: performance.now(), report };
          round = undefined;
          return report;
        },
        (error: unknown) => {
          round = undefined;
          throw error;
        },
      );
      return round;
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
