import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { createAsyncQueue, type AsyncQueue, type OverflowPolicy } from '../../platform/async-queue.ts';
import type { RequestContext } from '../../platform/context.ts';
import type { Logger } from '../../platform/logger.ts';
import { prepareSubscription, type PreparedSubscription, type SubscriptionRequest } from './operation.ts';
import { resolveEvent, type UpstreamEvent } from './resolve.ts';
import type { SupergraphSnapshot } from '../supergraph.ts';

export type { OverflowPolicy, UpstreamEvent };

/** What a client receives for each event: plain JSON, errors already formatted (and masked in production). */
export interface ClientResult {
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLFormattedError[];
}

/** How results wait for a slow client: per client subscription, and per upstream while entity fetches run. */
export interface QueuePolicy {
  /** Results buffered before `overflow` applies. */
  limit: number;
  /** 'drop-oldest' for lossy streams; 'fail' ends the subscription with an error instead of ever dropping. */
  overflow: OverflowPolicy;
}

/** `all` plus `fields.<root field>`, merged field by field over the defaults (built-in all < all < built-in field < field). */
export interface QueueOptions {
  all?: Partial<QueuePolicy>;
  fields?: Readonly<Record<string, Partial<QueuePolicy>>>;
}

/**
 * Never drop by default (trip status and offers must all arrive). Location streams are lossy: a newer
 * position makes an older one worthless, so a short queue that keeps the newest is all a map needs.
 */
export const DEFAULT_QUEUES = Object.freeze({
  all: Object.freeze({ limit: 100, overflow: 'fail' }),
  fields: Object.freeze({
    driverLocation: Object.freeze({ limit: 16, overflow: 'drop-oldest' }),
    nearbyDriversUpdates: Object.freeze({ limit: 4, overflow: 'drop-oldest' }),
  }),
}) satisfies { all: QueuePolicy; fields: Record<string, QueuePolicy> };

/**
 * What a subscriber joining a running dedup group gets first, per root field. The owning subgraph sends
 * its initial state only when an upstream operation starts, so a joiner must get it some other way:
 *   latest  the group's newest result, at once (state streams: each event is the whole state, so the
 *           newest is what a fresh subscription would start with)
 *   alone   never joins a group: its own upstream operation, its own initial events (streams whose
 *           first events are a set, e.g. a driver's pending offers, that no single result restores)
 * A root field not listed is `alone`: correct whatever its stream means, at the price of dedup.
 */
export type JoinPolicy = 'latest' | 'alone';

export const DEFAULT_JOINS: Readonly<Record<string, JoinPolicy>> = Object.freeze({
  tripUpdates: 'latest',
  driverLocation: 'latest',
  nearbyDriversUpdates: 'latest',
  tripOffers: 'alone',
});

/** The operation the router sends upstream: the primary fetch, carrying the subscriber's credentials. */
export interface UpstreamRequest {
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
  extensions: { authorization?: string; requestId: string; traceparent: string };
}

export interface UpstreamSink {
  next(event: UpstreamEvent): void;
  /** The subgraph refused or ended the operation with errors, or can no longer be reached for good. */
  error(errors: readonly GraphQLFormattedError[]): void;
  complete(): void;
}

/** How the engine reaches subgraphs (router/subscriptions/upstream.ts: graphql-ws, multiplexed per subgraph). */
export interface UpstreamTransport {
  /**
   * Starts one operation on a subgraph, and starts it again after every reconnect, each time with
   * `request()` as it is then (the freshest subscriber's credentials). Returns what ends it.
   */
  subscribe(target: { subgraph: string; url: string }, request: () => UpstreamRequest, sink: UpstreamSink): () => void;
  close(): Promise<void>;
}

export interface SubscriptionEngineOptions {
  /** The supergraph as the gateway currently serves it. */
  supergraph(): SupergraphSnapshot;
  upstream: UpstreamTransport;
  logger: Logger;
  /** The router's error formatter (platform/graphql.ts createFormatError): codes pass, the unexpected is masked. */
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  /** Queue policies by root field over DEFAULT_QUEUES. */
  queues?: QueueOptions;
  /** Join policies by root field over DEFAULT_JOINS. */
  joins?: Readonly<Record<string, JoinPolicy>>;
  /**
   * The execution bounds of each event's entity fetches, as a query's (router/edge/features/
   * execution-bounds.ts): each event gets `timeoutMs` from its arrival, sent to the subgraphs as its
   * deadline, and their answers are cut at `maxResponseBytes`. Absent: unbounded (the edge is off).
   */
  eventBounds?: { readonly timeoutMs: number; readonly maxResponseBytes?: number };
}

/** Counters for tests, logs and /metrics. */
export interface SubscriptionEngineStats {
  /** Client subscriptions currently attached. */
  subscribers: number;
  /** Upstream subscriptions currently open (one per dedup group). */
  upstreams: number;
  /** Upstream subscriptions opened since start. */
  upstreamsOpened: number;
  /** Events received from subgraphs. */
  eventsReceived: number;
  /** Events resolved (one rest-of-plan execution each, shared by the whole dedup group). */
  eventsResolved: number;
  /** Of those, events handed on as the owning subgraph sent them (PreparedSubscription.direct). */
  eventsDirect: number;
  /** Results handed to client queues. */
  deliveries: number;
  /** Results dropped from lossy queues (client or upstream side). */
  dropped: number;
  /** Subscriptions ended because a lossless queue overflowed. */
  overflows: number;
}

/** Ends a client's subscription with these errors (the ws adapter sends them as one graphql-ws `error` message). */
export class SubscriptionEndedError extends Error {
  readonly errors: readonly GraphQLFormattedError[];

  constructor(errors: readonly GraphQLFormattedError[]) {
    super(errors[0]?.message ?? 'The subscription ended.');
    this.name = 'SubscriptionEndedError';
    this.errors = errors;
  }
}

interface Subscriber {
  readonly queue: AsyncQueue<ClientResult>;
  readonly context: RequestContext;
  topic: Topic | undefined;
}

/** One upstream subscription and everyone sharing it (same principal, document and variables). */
interface Topic {
  readonly key: string;
  readonly prepared: PreparedSubscription;
  readonly policy: QueuePolicy;
  readonly join: JoinPolicy;
  /** The newest result, handed to a joiner first (join policy `latest`). */
  latest: ClientResult | undefined;
  readonly subscribers: Set<Subscriber>;
  /** The newest subscriber's context: its token is the group's freshest (all belong to one principal). */
  context: RequestContext;
  /** Upstream events waiting for their entity fetches; resolved one at a time, in order. */
  readonly inbox: AsyncQueue<UpstreamEvent>;
  closeUpstream: (() => void) | undefined;
  closed: boolean;
}

/**
 * The router's subscription engine, free of any transport: validates and plans an operation against
 * the gateway's supergraph, opens (or joins) one upstream subscription per dedup group, resolves each
 * event's fields owned by other subgraphs once per group, and fans the result out to bounded per-client
 * queues.
 */
export class SubscriptionEngine {
  readonly #options: SubscriptionEngineOptions;
  readonly #policies = new Map<string, QueuePolicy>();
  readonly #topics = new Map<string, Topic>();
  readonly #stats = { subscribers: 0, upstreamsOpened: 0, eventsReceived: 0, eventsResolved: 0, eventsDirect: 0, deliveries: 0, dropped: 0, overflows: 0 };
  readonly #changes = new EventEmitter().setMaxListeners(0);
  /** Numbers the groups of one (join policy `alone`). */
  #alone = 0;

  constructor(options: SubscriptionEngineOptions) {
    this.#options = options;
    for (const policy of [options.queues?.all, ...Object.values(options.queues?.fields ?? {})]) {
      if (policy?.limit !== undefined && (!Number.isInteger(policy.limit) || policy.limit < 1)) throw new Error(`a queue limit must be a positive integer, got ${policy.limit}`);
      if (policy?.overflow !== undefined && policy.overflow !== 'fail' && policy.overflow !== 'drop-oldest') throw new Error(`unknown overflow policy ${policy.overflow}`);
    }
  }

  /** Validates and plans a request against the current supergraph; errors are what the client should see. */
  prepare(request: SubscriptionRequest): PreparedSubscription | readonly GraphQLError[] {
    try {
      return prepareSubscription(this.#options.supergraph(), request);
    } catch (error) {
      this.#options.logger.error({ err: error }, 'planning a subscription failed');
      return [new GraphQLError('This subscription could not be planned.', { originalError: error as Error, extensions: { code: 'INTERNAL_SERVER_ERROR' } })];
    }
  }

  /** The client's stream of results. `return()` detaches it; the last one out closes the upstream subscription. */
  subscribe(prepared: PreparedSubscription, context: RequestContext): AsyncIterableIterator<ClientResult> {
    const policy = this.policyFor(prepared.rootField);
    const subscriber: Subscriber = {
      context,
      topic: undefined,
      queue: createAsyncQueue<ClientResult>({ limit: policy.limit, overflow: policy.overflow, onReturn: () => this.#detach(subscriber) }),
    };
    const join = this.#options.joins?.[prepared.rootField] ?? DEFAULT_JOINS[prepared.rootField] ?? 'alone';
    const key = join === 'alone' ? `alone:${(this.#alone += 1)}` : dedupKey(prepared, context);
    let topic = this.#topics.get(key);
    const joining = topic !== undefined;
    topic ??= this.#create(key, prepared, policy, join, context);
    topic.subscribers.add(subscriber);
    topic.context = context;
    subscriber.topic = topic;
    this.#stats.subscribers += 1;
    if (!joining) this.#connect(topic);
    // The group's state so far; what the upstream sends next follows it in order.
    else if (topic.latest) this.#deliver(subscriber, topic.latest);
    this.#changed();
    return subscriber.queue;
  }

  /** The queue policy of a root field: DEFAULT_QUEUES under the options, merged field by field. */
  policyFor(rootField: string): QueuePolicy {
    let policy = this.#policies.get(rootField);
    if (!policy) {
      const builtIn = (DEFAULT_QUEUES.fields as Record<string, QueuePolicy>)[rootField];
      policy = Object.freeze({ ...DEFAULT_QUEUES.all, ...this.#options.queues?.all, ...builtIn, ...this.#options.queues?.fields?.[rootField] });
      this.#policies.set(rootField, policy);
    }
    return policy;
  }

  stats(): SubscriptionEngineStats {
    return { ...this.#stats, upstreams: this.#topics.size };
  }

  /** Called after the counters change (tests and benchmarks wait on them instead of sleeping). */
  onChange(listener: () => void): () => void {
    this.#changes.on('change', listener);
    return () => this.#changes.off('change', listener);
  }

  #changed() {
    if (this.#changes.listenerCount('change') > 0) this.#changes.emit('change');
  }

  /** Completes every remaining subscription and closes the upstream connections. */
  async close(): Promise<void> {
    for (const topic of [...this.#topics.values()]) this.#end(topic);
    await this.#options.upstream.close();
  }

  #create(key: string, prepared: PreparedSubscription, policy: QueuePolicy, join: JoinPolicy, context: RequestContext): Topic {
    const topic: Topic = {
      key,
      prepared,
      policy,
      join,
      latest: undefined,
      subscribers: new Set(),
      context,
      inbox: createAsyncQueue<UpstreamEvent>({ limit: policy.limit, overflow: policy.overflow }),
      closeUpstream: undefined,
      closed: false,
    };
    this.#topics.set(key, topic);
    return topic;
  }

  /** Opens the topic's upstream subscription (its first subscriber is attached: the request carries their credentials). */
  #connect(topic: Topic) {
    this.#stats.upstreamsOpened += 1;
    void this.#pump(topic);
    const { primary, snapshot } = topic.prepared;
    const url = snapshot.urls[primary.serviceName];
    if (!url) return this.#end(topic, [this.#format(new GraphQLError(`No URL for subgraph "${primary.serviceName}".`))]);
    topic.closeUpstream = this.#options.upstream.subscribe({ subgraph: primary.serviceName, url }, () => upstreamRequest(topic), {
      next: (event) => {
        if (topic.closed) return;
        this.#stats.eventsReceived += 1;
        if (isRefusal(event)) return this.#end(topic, event.errors!.map((error) => this.#format(error)));
        const dropped = topic.inbox.dropped;
        topic.inbox.push(event);
        this.#stats.dropped += topic.inbox.dropped - dropped;
        this.#changed();
      },
      error: (errors) => this.#end(topic, errors.map((error) => this.#format(error))),
      complete: () => topic.inbox.end(),
    });
  }

  /** Resolves the topic's events one at a time, in order, and fans each result out. */
  async #pump(topic: Topic) {
    try {
      for await (const event of topic.inbox) {
        const result = await this.#resolve(topic, event);
        this.#stats.eventsResolved += 1;
        if (topic.join === 'latest') topic.latest = result;
        for (const subscriber of [...topic.subscribers]) this.#deliver(subscriber, result);
        this.#changed();
      }
      this.#end(topic);
    } catch (error) {
      // Only a lossless inbox overflowing lands here: entity fetches could not keep up with the subgraph.
      this.#stats.overflows += 1;
      this.#end(topic, [overflowError(topic.policy.limit)]);
      this.#changed();
      this.#options.logger.warn({ err: error, rootField: topic.prepared.rootField }, 'subscription upstream queue overflowed');
    }
  }

  async #resolve(topic: Topic, event: UpstreamEvent): Promise<ClientResult> {
    // The owner answered exactly what the client asked: its event is the result (what the plan would make of it).
    if (topic.prepared.direct && event.data && !event.errors?.length) {
      this.#stats.eventsDirect += 1;
      return { data: event.data };
    }
    try {
      const bounds = this.#options.eventBounds;
      const context = bounds ? { ...topic.context, deadline: Date.now() + bounds.timeoutMs, maxResponseBytes: bounds.maxResponseBytes } : topic.context;
      const result = await resolveEvent(topic.prepared, event, context);
      const errors = result.errors?.map((error) => this.#format(error));
      return errors?.length ? { data: result.data, errors } : { data: result.data };
    } catch (error) {
      return { data: null, errors: [this.#format(error)] };
    }
  }

  #deliver(subscriber: Subscriber, result: ClientResult) {
    const { queue } = subscriber;
    const policy = subscriber.topic?.policy;
    if (policy?.overflow === 'fail' && queue.size >= policy.limit) {
      // Never drop silently: end this client's subscription; the error reaches it after what it has queued.
      this.#stats.overflows += 1;
      queue.end(new SubscriptionEndedError([overflowError(policy.limit)]));
      this.#detach(subscriber);
      return;
    }
    const dropped = queue.dropped;
    queue.push(result);
    this.#stats.dropped += queue.dropped - dropped;
    this.#stats.deliveries += 1;
  }

  #detach(subscriber: Subscriber) {
    const topic = subscriber.topic;
    if (!topic) return;
    subscriber.topic = undefined;
    topic.subscribers.delete(subscriber);
    this.#stats.subscribers -= 1;
    this.#changed();
    if (topic.subscribers.size === 0) return this.#end(topic);
    if (topic.context === subscriber.context) for (const remaining of topic.subscribers) topic.context = remaining.context;
  }

  /** Ends a topic: its subscribers complete (or see the errors), its upstream subscription closes. */
  #end(topic: Topic, errors?: readonly GraphQLFormattedError[]) {
    if (topic.closed) return;
    topic.closed = true;
    if (this.#topics.get(topic.key) === topic) this.#topics.delete(topic.key);
    topic.closeUpstream?.();
    void topic.inbox.return!();
    for (const subscriber of [...topic.subscribers]) {
      subscriber.queue.end(errors ? new SubscriptionEndedError(errors) : undefined);
      this.#detach(subscriber);
    }
  }

  #format(error: unknown): GraphQLFormattedError {
    if (error instanceof GraphQLError) return this.#options.formatError(error.toJSON(), error);
    if (error instanceof Error) return this.#options.formatError({ message: error.message }, error);
    return this.#options.formatError(error as GraphQLFormattedError, error);
  }
}

const AUTHORIZATION_CODES: ReadonlySet<unknown> = new Set(['FORBIDDEN', 'UNAUTHENTICATED']);

/**
 * The subgraph refused the subscription: a request error (a result with no `data` at all: its rules
 * denied the root field's `subscribe`), or its rules denied the root field of this event (a rule that
 * runs per event, e.g. a rider whose trip has ended). Either way the stream is over for this principal.
 */
function isRefusal(event: UpstreamEvent): boolean {
  if (!event.errors?.length) return false;
  if (event.data === undefined) return true;
  const rootNulled = event.data === null || Object.values(event.data).every((value) => value === null);
  return rootNulled && event.errors.some((error) => AUTHORIZATION_CODES.has(error.extensions?.code) && (error.path?.length ?? 0) <= 1);
}

/** Subscriptions of one principal (user and role) with the same document and variables share one upstream. */
function dedupKey(prepared: PreparedSubscription, context: RequestContext): string {
  const principal = context.principal ? `${context.principal.userId}:${context.principal.role}` : 'anonymous';
  return createHash('sha256')
    .update(JSON.stringify([prepared.snapshot.generation, principal, prepared.operationName ?? null, prepared.canonicalQuery, canonicalJson(prepared.variables)]))
    .digest('base64url');
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` are the same variables. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, inner]) => inner !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function upstreamRequest(topic: Topic): UpstreamRequest {
  const { primary, variables } = topic.prepared;
  const { context } = topic;
  const used: Record<string, unknown> = {};
  for (const name of primary.variableUsages ?? []) if (variables[name] !== undefined) used[name] = variables[name];
  return {
    query: primary.operation,
    operationName: primary.operationName,
    variables: used,
    extensions: { authorization: context.authorization, requestId: context.requestId, traceparent: context.trace.traceparent },
  };
}

/** A lossless stream fell too far behind. RATE_LIMITED: the client should slow down and subscribe again. */
function overflowError(limit: number): GraphQLFormattedError {
  return { message: `The subscription fell more than ${limit} events behind and was ended; subscribe again.`, extensions: { code: 'RATE_LIMITED', reason: 'SLOW_CONSUMER' } };
}
