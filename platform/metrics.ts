import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per service (embedded mode runs six services in one process, so nothing
 * here is a module-level singleton). Served at GET /metrics.
 */
export interface ServiceMetrics {
  readonly registry: Registry;
  readonly httpRequests: Histogram<'route' | 'method' | 'status'>;
  readonly sqlStatements: Counter<string>;
}

export function createServiceMetrics(service: string, options: { processMetrics: boolean }): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Histogram({
      name: 'smartline_http_request_duration_seconds',
      help: 'HTTP requests by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    sqlStatements: new Counter({ name: 'smartline_sql_statements_total', help: 'SQL statements sent to the database.', registers: [registry] }),
  };
}
