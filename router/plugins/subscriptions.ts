import { Counter, Gauge } from 'prom-client';
import { SubscriptionCloseCodes } from '../subscriptions/close-codes.ts';
import { SubscriptionEngine, type JoinPolicy, type QueueOptions, type SubscriptionEngineOptions, type SubscriptionEngineStats } from '../subscriptions/engine.ts';
import { createGraphqlWsUpstream, type GraphqlWsUpstream, type UpstreamOptions } from '../subscriptions/upstream.ts';
import { attachSubscriptionSockets, type SubscriptionSockets } from '../subscriptions/ws.ts';
import type { RouterFeature, RouterHost } from './feature.ts';

export interface SubscriptionsOptions {
  /**
   * Slow consumers, per root field: `all` plus `fields.<root field>`, over DEFAULT_QUEUES in engine.ts
   * (everything: 100 results, 'fail' — never drop; driverLocation: 16, nearbyDriversUpdates: 4, 'drop-oldest').
   */
  queues?: QueueOptions;
  /** What a subscriber joining a running dedup group gets first, per root field, over DEFAULT_JOINS in engine.ts. */
  joins?: Readonly<Record<string, JoinPolicy>>;
  /** Each event's entity fetches bounded as a query's (deadline, answer size); the router sets it from its edge config. */
  eventBounds?: SubscriptionEngineOptions['eventBounds'];
  /** WebSocket pings to clients (default 12 000 ms). */
  keepAliveMs?: number;
  /** Default 3 000 ms. */
  connectionInitWaitTimeoutMs?: number;
  /** Default 64 KiB. */
  maxFrameBytes?: number;
  /** Operations one socket may run at once (default 100). */
  maxSubscriptionsPerSocket?: number;
  /** On shutdown, how long clients get to complete the close handshake before their sockets are cut (default 2 000 ms). */
  closeTimeoutMs?: number;
  upstream?: Omit<UpstreamOptions, 'logger'>;
}

export interface SubscriptionsStats extends SubscriptionEngineStats {
  /** Client sockets open. */
  sockets: number;
  /** Sockets to subgraphs connected. */
  upstreamConnections: number;
}

export interface SubscriptionsFeature extends RouterFeature {
  stats(): SubscriptionsStats;
  /** Resolves once the engine's counters satisfy `predicate` (checked now and after every change). */
  waitFor(predicate: (stats: SubscriptionsStats) => boolean, signal?: AbortSignal): Promise<SubscriptionsStats>;
}

/**
 * Subscriptions over graphql-ws on the router's /graphql (router/subscriptions/PROTOCOL.md): the
 * transport-free engine, graphql-ws upstreams to subgraphs, and the ws adapter, in the router's lifecycle.
 */
export function subscriptionsFeature(options: SubscriptionsOptions = {}): SubscriptionsFeature {
  let parts: { engine: SubscriptionEngine; sockets: SubscriptionSockets; upstream: GraphqlWsUpstream } | undefined;

  const stats = (): SubscriptionsStats => {
    if (!parts) throw new Error('subscriptions are not attached to a router');
    return { ...parts.engine.stats(), sockets: parts.sockets.sockets(), upstreamConnections: parts.upstream.connections() };
  };

  const waitFor = (predicate: (stats: SubscriptionsStats) => boolean, signal?: AbortSignal) =>
    new Promise<SubscriptionsStats>((resolve, reject) => {
      if (!parts) return reject(new Error('subscriptions are not attached to a router'));
      const check = () => {
        const current = stats();
        if (!predicate(current)) return;
        stop();
        resolve(current);
      };
      const aborted = () => {
        stop();
        reject(signal!.reason);
      };
      const unlisten = parts.engine.onChange(check);
      const stop = () => {
        unlisten();
        signal?.removeEventListener('abort', aborted);
      };
      signal?.addEventListener('abort', aborted, { once: true });
      check();
    });

  return {
    name: 'subscriptions',
    stats,
    waitFor,
    attach(host: RouterHost) {
      const logger = host.logger.child({ feature: 'subscriptions' });
      const upstream = createGraphqlWsUpstream({ ...options.upstream, logger });
      const engine = new SubscriptionEngine({
        supergraph: host.supergraph,
        upstream,
        logger,
        formatError: host.formatError,
        queues: options.queues,
        joins: options.joins,
        eventBounds: options.eventBounds,
      });
      const sockets = attachSubscriptionSockets({
        server: host.server,
        engine,
        edge: host.edge,
        logger,
        formatError: host.formatError,
        keepAliveMs: options.keepAliveMs,
        connectionInitWaitTimeoutMs: options.connectionInitWaitTimeoutMs,
        maxFrameBytes: options.maxFrameBytes,
        maxSubscriptionsPerSocket: options.maxSubscriptionsPerSocket,
      });
      parts = { engine, sockets, upstream };
      registerMetrics(host, stats);
    },
    async onDraining(reason) {
      if (!parts) return;
      parts.sockets.stopAccepting();
      const code = reason === 'restart' ? SubscriptionCloseCodes.SERVICE_RESTART : SubscriptionCloseCodes.GOING_AWAY;
      await parts.sockets.closeAll(code, reason === 'restart' ? 'Router restarting' : 'Router shutting down', options.closeTimeoutMs ?? 2_000);
    },
    async onStopped() {
      if (!parts) return;
      await parts.engine.close();
    },
  };
}

function registerMetrics(host: RouterHost, stats: () => SubscriptionsStats) {
  const registers = [host.metrics.registry];
  const gauge = (name: string, help: string, read: (s: SubscriptionsStats) => number) =>
    new Gauge({ name, help, registers, collect() { this.set(read(stats())); } });
  const counter = (name: string, help: string, read: (s: SubscriptionsStats) => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read(stats())); } });
  gauge('smartline_subscription_sockets', 'Client WebSockets open.', (s) => s.sockets);
  gauge('smartline_subscriptions_active', 'Client subscriptions attached.', (s) => s.subscribers);
  gauge('smartline_subscription_upstreams_active', 'Upstream subscriptions open (one per dedup group).', (s) => s.upstreams);
  gauge('smartline_subscription_upstream_connections', 'WebSockets to subgraphs connected.', (s) => s.upstreamConnections);
  counter('smartline_subscription_upstreams_opened_total', 'Upstream subscriptions opened.', (s) => s.upstreamsOpened);
  counter('smartline_subscription_events_received_total', 'Events received from subgraphs.', (s) => s.eventsReceived);
  counter('smartline_subscription_events_resolved_total', 'Events resolved (entity fetches run once per dedup group).', (s) => s.eventsResolved);
  counter('smartline_subscription_events_direct_total', 'Events handed on as the owning subgraph sent them (it resolved every field asked).', (s) => s.eventsDirect);
  counter('smartline_subscription_deliveries_total', 'Results handed to client queues.', (s) => s.deliveries);
  counter('smartline_subscription_dropped_total', 'Results dropped from lossy queues.', (s) => s.dropped);
  counter('smartline_subscription_overflows_total', 'Subscriptions ended because a lossless queue overflowed.', (s) => s.overflows);
}
