/**
 * What the edge did with each operation, on every path: a counter and a latency histogram by transport,
 * path and outcome, and a log line for every refusal (info: a refusal is the edge working, not an error).
 */
import { performance } from 'node:perf_hooks';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../../platform/logger.ts';
import type { EdgeFeature } from '../types.ts';

export function observabilityFeature(options: { registry: Registry; logger: Logger }): EdgeFeature {
  const registers = [options.registry];
  const operations = new Counter({
    name: 'smartline_router_operations_total',
    help: 'GraphQL operations at the edge, by transport (http, ws), answering path (gateway, fast, subscription), outcome (answered, refused, failed) and refusal code.',
    labelNames: ['transport', 'path', 'outcome', 'code'],
    registers,
  });
  const seconds = new Histogram({
    name: 'smartline_router_operation_duration_seconds',
    help: 'Time from the edge admitting an operation to its answer being sent (subscriptions: until started).',
    labelNames: ['transport', 'path'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  return {
    name: 'observability',
    response(request, outcome) {
      const { transport } = request.connection;
      operations.inc({ transport, path: request.path, outcome: outcome.kind, code: outcome.refusal?.code ?? '' });
      if (outcome.kind !== 'refused') seconds.observe({ transport, path: request.path }, (performance.now() - request.startedAt) / 1000);
      else {
        options.logger.info(
          { requestId: request.requestId, transport, code: outcome.refusal?.code, reason: outcome.refusal?.extensions.reason, ip: request.connection.ip, userId: request.connection.principal?.userId, operationName: request.operationName },
          'operation refused at the edge',
        );
      }
    },
  };
}
