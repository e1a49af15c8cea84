import { Counter, Gauge, Registry } from 'prom-client';

export interface EventMetrics {
  readonly published: Counter<'type'>;
  readonly consumed: Counter<'consumer' | 'type'>;
  readonly failed: Counter<'consumer' | 'type'>;
  readonly parked: Counter<'consumer'>;
  /** How long the oldest event of the last published batch waited in the outbox. */
  readonly outboxLag: Gauge<string>;
}

/** The bus's counters, on the subgraph's own registry (served at /metrics) or a private one. */
export function createEventMetrics(registry: Registry = new Registry()): EventMetrics {
  return {
    published: new Counter({ name: 'smartline_events_published_total', help: 'Events put on this subgraph\'s stream, by type.', labelNames: ['type'], registers: [registry] }),
    consumed: new Counter({ name: 'smartline_events_consumed_total', help: 'Events applied by a consumer, by consumer and type.', labelNames: ['consumer', 'type'], registers: [registry] }),
    failed: new Counter({ name: 'smartline_events_failed_total', help: 'Handler attempts that threw (the event is retried), by consumer and type.', labelNames: ['consumer', 'type'], registers: [registry] }),
    parked: new Counter({ name: 'smartline_events_parked_total', help: 'Events given up on after their attempts (see dead_events), by consumer.', labelNames: ['consumer'], registers: [registry] }),
    outboxLag: new Gauge({ name: 'smartline_events_outbox_lag_seconds', help: 'Time the oldest event of the last relayed batch spent in the outbox.', registers: [registry] }),
  };
}
