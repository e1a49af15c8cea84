import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { createAsyncQueue, type AsyncQueue, type OverflowPolicy } from '../../platform/async-queue.ts';
import type { RequestContext } from '../../platform/context.ts';
import type { Logger } from '../../platform/logger.ts';
import { prepareSubscription, type PreparedSubscription, type SubscriptionRequest } from './operation.ts';
import { resolveEvent, type UpstreamEvent } from './resolve.ts';
import type { SupergraphSnapshot } from './supergraph.ts';

export type { OverflowPolicy, UpstreamEvent };

/** What a client receives for each event: plain JSON, errors already formatted (and masked in production). */
export interface ClientResult {
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLFormattedError[];
}

/** Lossy streams by root field: a newer position makes an older one worthless. Everything else never drops. */
export const LOCATION_STREAM_POLICIES: Readonly<Record<string, OverflowPolicy>> = Object.freeze({
  driverLocation: 'drop-oldest',
  nearbyDriversUpdates: 'drop-oldest',
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
  /** Events buffered per client, and per upstream while entity fetches run, before the overflow policy applies (default 100). */
  queueLimit?: number;
  /** Overflow policy by root field; a field not named here never drops ('fail'). Default LOCATION_STREAM_POLICIES. */
  overflow?: Readonly<Record<string, OverflowPolicy>>;
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
  readonly policy: OverflowPolicy;
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
  readonly #limit: number;
  readonly #policies: Readonly<Record<string, OverflowPolicy>>;
  readonly #topics = new Map<string, Topic>();
  readonly #stats = { subscribers: 0, upstreamsOpened: 0, eventsReceived: 0, eventsResolved: 0, deliveries: 0, dropped: 0, overflows: 0 };
  readonly #changes = new EventEmitter().setMaxListeners(0);

  constructor(options: SubscriptionEngineOptions) {
    this.#options = options;
    this.#limit = options.queueLimit ?? 100;
    if (!Number.isInteger(this.#limit) || this.#limit < 1) throw new Error(`queueLimit must be a positive integer, got ${options.queueLimit}`);
    this.#policies = options.overflow ?? LOCATION_STREAM_POLICIES;
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
      queue: createAsyncQueue<ClientResult>({ limit: this.#limit, overflow: policy, onReturn: () => this.#detach(subscriber) }),
    };
    const key = dedupKey(prepared, context);
    let topic = this.#topics.get(key);
    const joining = topic !== undefined;
    topic ??= this.#create(key, prepared, policy, context);
    topic.subscribers.add(subscriber);
    topic.context = context;
    subscriber.topic = topic;
    this.#stats.subscribers += 1;
    if (!joining) this.#connect(topic);
    this.#changed();
    return subscriber.queue;
  }

  policyFor(rootField: string): OverflowPolicy {
    return this.#policies[rootField] ?? 'fail';
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

  #create(key: string, prepared: PreparedSubscription, policy: OverflowPolicy, context: RequestContext): Topic {
    const topic: Topic = {
      key,
      prepared,
      policy,
      subscribers: new Set(),
      context,
      inbox: createAsyncQueue<UpstreamEvent>({ limit: this.#limit, overflow: policy }),
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
        for (const subscriber of [...topic.subscribers]) this.#deliver(subscriber, result);
        this.#changed();
      }
      this.#end(topic);
    } catch (error) {
      // Only a lossless inbox overflowing lands here: entity fetches could not keep up with the subgraph.
      this.#stats.overflows += 1;
      this.#end(topic, [overflowError(this.#limit)]);
      this.#changed();
      this.#options.logger.warn({ err: error, rootField: topic.prepared.rootField }, 'subscription upstream queue overflowed');
    }
  }

  async #resolve(topic: Topic, event: UpstreamEvent): Promise<ClientResult> {
    try {
      const result = await resolveEvent(topic.prepared, event, topic.context);
      const errors = result.errors?.map((error) => this.#format(error));
      return errors?.length ? { data: result.data, errors } : { data: result.data };
    } catch (error) {
      return { data: null, errors: [this.#format(error)] };
    }
  }

  #deliver(subscriber: Subscriber, result: ClientResult) {
    const { queue } = subscriber;
    if (queue.size >= this.#limit && subscriber.topic?.policy === 'fail') {
      // Never drop silently: end this client's subscription; the error reaches it after what it has queued.
      this.#stats.overflows += 1;
      queue.end(new SubscriptionEndedError([overflowError(this.#limit)]));
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
