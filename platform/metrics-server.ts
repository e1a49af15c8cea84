import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';

/**
 * /metrics on a port of its own (METRICS_PORT), for Prometheus inside the cluster: the public port
 * (the router's above all) never shows request counts, SQL counts or process details to the internet.
 *
 * Every service of a process registers on the same listener (`npm start` runs six in one process):
 * each at /metrics/<service>, and at /metrics as well when it is the only one there. Port 0 (tests) is
 * a listener of its own per service.
 */
export interface MetricsServer {
  readonly port: number;
  /** Where Prometheus scrapes this service: http://host:port/metrics/<service>. */
  readonly url: string;
  /** Unregisters the service; the listener closes with its last service. */
  stop(): Promise<void>;
}

export interface MetricsServerOptions {
  service: string;
  registry: Registry;
  host: string;
  port: number;
  logger: Logger;
}

interface Listener {
  readonly server: Server;
  readonly registries: Map<string, Registry>;
  readonly ready: Promise<number>;
}

/** Shared listeners of this process, by host and port (never for port 0). */
const listeners = new Map<string, Listener>();

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const key = `${options.host}:${options.port}`;
  let listener = options.port === 0 ? undefined : listeners.get(key);
  if (!listener) {
    listener = listen(options);
    if (options.port !== 0) listeners.set(key, listener);
  }
  if (listener.registries.has(options.service)) throw new Error(`${options.service} already serves metrics on ${key}`);
  listener.registries.set(options.service, options.registry);
  let port: number;
  try {
    port = await listener.ready;
  } catch (error) {
    listener.registries.delete(options.service);
    if (listeners.get(key) === listener) listeners.delete(key);
    throw error;
  }
  const displayHost = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  options.logger.info({ url: `http://${displayHost}:${port}/metrics/${options.service}` }, 'metrics listening');
  const owned = listener;
  let stopped: Promise<void> | undefined;
  return {
    port,
    url: `http://${displayHost}:${port}/metrics/${options.service}`,
    stop() {
      stopped ??= (async () => {
        owned.registries.delete(options.service);
        if (owned.registries.size > 0) return;
        if (listeners.get(key) === owned) listeners.delete(key);
        await new Promise<void>((resolve) => {
          owned.server.close(() => resolve());
          owned.server.closeAllConnections();
        });
      })();
      return stopped;
    },
  };
}

function listen(options: MetricsServerOptions): Listener {
  const registries = new Map<string, Registry>();
  const server = http.createServer({ requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const service = path === '/metrics' && registries.size === 1 ? [...registries.keys()][0]! : path.startsWith('/metrics/') ? decodeURIComponent(path.slice('/metrics/'.length)) : undefined;
    const registry = service === undefined ? undefined : registries.get(service);
    if (req.method !== 'GET' || !registry) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'not found', metrics: [...registries.keys()].map((name) => `/metrics/${name}`) }));
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (error: unknown) => {
        options.logger.warn({ err: error, service }, 'metrics could not be collected');
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('metrics unavailable\n');
      },
    );
  });
  const ready = new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  return { server, registries, ready };
}
