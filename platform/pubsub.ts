import { EventEmitter } from 'node:events';
import { createAsyncQueue, type OverflowPolicy } from './async-queue.ts';

export type { OverflowPolicy };
import type { Logger } from './logger.ts';
import { isCluster, openSubscriber, type Redis, type RedisServer } from './redis.ts';

/**
 * Fan-out between replicas: whatever any replica publishes, every subscriber on every replica gets.
 * Redis pub/sub when Redis is configured; in-process in embedded mode (one process is the only replica).
 * Messages are JSON.
 */
export interface PubSub {
  publish(channel: string, message: unknown): Promise<void>;
  /** Messages on `channel` from now on, buffered per subscriber; `return()` unsubscribes. */
  subscribe<T>(channel: string, options?: SubscribeOptions): PubSubSubscription<T>;
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** Messages buffered for a slow consumer (default 100). */
  limit?: number;
  /** What happens past the limit (default 'fail': never drop silently). */
  overflow?: OverflowPolicy;
  /**
   * Called after a gap in delivery, once messages flow again (the Redis connection was lost: whatever
   * was published meanwhile is gone). The messages it resolves to are delivered as if published: a
   * status stream reads its owner's current state here.
   */
  resync?: () => Promise<readonly unknown[]>;
}

export interface PubSubSubscription<T> extends AsyncIterableIterator<T> {
  /** Resolves once messages published from now on are certain to arrive (Redis confirmed SUBSCRIBE). */
  readonly ready: Promise<void>;
}

const DEFAULT_LIMIT = 100;
const PUBLISH_COMMAND = 'smartlinePublishInSlot';

export function createPubSub(redis: Redis | undefined, logger: Logger): PubSub {
  return redis ? new RedisPubSub(redis, logger) : new InProcessPubSub();
}

export class InProcessPubSub implements PubSub {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  async publish(channel: string, message: unknown) {
    this.#emitter.emit(channel, JSON.stringify(message));
  }

  subscribe<T>(channel: string, options: SubscribeOptions = {}): PubSubSubscription<T> {
    const listener = (raw: string) => queue.push(JSON.parse(raw) as T);
    const queue = createAsyncQueue<T>({ limit: options.limit ?? DEFAULT_LIMIT, overflow: options.overflow ?? 'fail', onReturn: () => this.#emitter.off(channel, listener) });
    this.#emitter.on(channel, listener);
    return Object.assign(queue, { ready: Promise.resolve() });
  }

  async close() {
    this.#emitter.removeAllListeners();
  }
}

/**
 * One subscriber connection per process; channels are subscribed in Redis while anyone here listens.
 * Redis pub/sub keeps nothing: a message published while the connection is down is lost. When it comes
 * back (ioredis subscribes every channel again), each subscription with a `resync` is asked for what
 * it missed, once the channels are confirmed subscribed (so nothing falls between the read and them).
 */
export class RedisPubSub implements PubSub {
  readonly #publisher: Redis;
  readonly #subscriber: RedisServer;
  readonly #listeners = new Map<string, Set<(raw: string) => void>>();
  readonly #resyncs = new Map<(raw: string) => void, { channel: string; resync: () => Promise<readonly unknown[]>; push: (message: unknown) => void }>();
  readonly #logger: Logger;
  /** On a cluster: PUBLISH through the master of the channel's slot (see the constructor). */
  readonly #ordered: ((channel: string, payload: string) => Promise<number>) | undefined;
  #lost = false;
  #closed = false;

  constructor(redis: Redis, logger: Logger) {
    this.#publisher = redis;
    this.#logger = logger;
    if (isCluster(redis)) {
      // ioredis sends a PUBLISH (no key) to any node: two messages of one channel published through two
      // nodes may reach a subscriber in either order (each crosses the cluster bus on its own link), and a
      // status stream must never see COMPLETED before IN_PROGRESS. Each channel's messages therefore go
      // through one node, the master of the channel name's slot, in a script whose only key is the name.
      if (!(PUBLISH_COMMAND in redis)) redis.defineCommand(PUBLISH_COMMAND, { numberOfKeys: 1, lua: "return redis.call('PUBLISH', KEYS[1], ARGV[1])" });
      this.#ordered = (redis as unknown as Record<typeof PUBLISH_COMMAND, (channel: string, payload: string) => Promise<number>>)[PUBLISH_COMMAND].bind(redis);
    }
    this.#subscriber = openSubscriber(redis);
    this.#subscriber.on('message', (channel: string, raw: string) => {
      for (const listener of this.#listeners.get(channel) ?? []) listener(raw);
    });
    this.#subscriber.on('error', (error) => logger.warn({ err: error }, 'redis subscriber error'));
    this.#subscriber.on('close', () => {
      if (!this.#closed) this.#lost = true;
    });
    this.#subscriber.on('ready', () => {
      if (!this.#lost) return;
      this.#lost = false;
      void this.#resync();
    });
  }

  /** After a reconnect: confirm every channel is subscribed, then ask each resync for what it missed. */
  async #resync() {
    const channels = [...this.#listeners.keys()];
    const waiting = [...this.#resyncs.values()];
    this.#logger.warn({ channels: channels.length, resyncing: waiting.length }, 'redis pub/sub reconnected: messages published meanwhile are lost; resynchronising streams');
    try {
      if (channels.length > 0) await this.#subscriber.subscribe(...channels);
    } catch (error) {
      this.#logger.warn({ err: error }, 'redis pub/sub: subscribing again failed; the next reconnect resynchronises');
      return;
    }
    await Promise.all(
      waiting.map(async ({ channel, resync, push }) => {
        try {
          for (const message of await resync()) push(message);
        } catch (error) {
          this.#logger.warn({ err: error, channel }, 'redis pub/sub: a stream could not resynchronise');
        }
      }),
    );
  }

  async publish(channel: string, message: unknown) {
    if (this.#ordered) await this.#ordered(channel, JSON.stringify(message));
    else await this.#publisher.publish(channel, JSON.stringify(message));
  }

  subscribe<T>(channel: string, options: SubscribeOptions = {}): PubSubSubscription<T> {
    const listener = (raw: string) => {
      try {
        queue.push(JSON.parse(raw) as T);
      } catch (error) {
        this.#logger.warn({ err: error, channel }, 'dropping a malformed pub/sub message');
      }
    };
    const queue = createAsyncQueue<T>({
      limit: options.limit ?? DEFAULT_LIMIT,
      overflow: options.overflow ?? 'fail',
      onReturn: () => {
        this.#resyncs.delete(listener);
        const set = this.#listeners.get(channel);
        set?.delete(listener);
        if (set && set.size === 0) {
          this.#listeners.delete(channel);
          this.#subscriber.unsubscribe(channel).catch(() => undefined);
        }
      },
    });
    let set = this.#listeners.get(channel);
    if (!set) {
      set = new Set();
      this.#listeners.set(channel, set);
    }
    set.add(listener);
    if (options.resync) this.#resyncs.set(listener, { channel, resync: options.resync, push: (message) => queue.push(message as T) });
    // SUBSCRIBE is idempotent in Redis; awaiting our own call also covers a channel another listener opened.
    const ready = this.#subscriber.subscribe(channel).then(
      () => undefined,
      (error: Error) => queue.end(error),
    );
    return Object.assign(queue, { ready });
  }

  async close() {
    this.#closed = true;
    this.#listeners.clear();
    this.#resyncs.clear();
    this.#subscriber.disconnect();
  }
}

export interface EventStreamOptions<TMessage, TEvent> {
  /** Sent before anything from the stream (a snapshot read once the subscription was ready), through `map` like the rest. */
  initial?: readonly TMessage[];
  /** The event for a message, or undefined to skip it (a duplicate, an older version). */
  map(message: TMessage): TEvent | undefined;
  /** The stream completes after this event (a trip that ended). */
  isLast?(event: TEvent): boolean;
  /** Runs once when the stream ends, however it ends (closes companion subscriptions). */
  onEnd?(): unknown;
}

/**
 * A GraphQL subscription's events from a pub/sub subscription. `return()` (the client unsubscribed, or
 * the server ends the stream) ends the pub/sub subscription at once, which also completes a pending
 * `next()`: an async generator would notice only after the next message arrived.
 */
export function eventStream<TMessage, TEvent>(stream: PubSubSubscription<TMessage>, options: EventStreamOptions<TMessage, TEvent>): AsyncIterableIterator<TEvent> {
  const initial = [...(options.initial ?? [])];
  let last = false;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await stream.return?.();
    await options.onEnd?.();
  };
  const iterator: AsyncIterableIterator<TEvent> = {
    async next() {
      while (!last) {
        let message: TMessage;
        if (initial.length > 0) message = initial.shift()!;
        else {
          const result = await stream.next();
          if (result.done) break;
          message = result.value;
        }
        const event = options.map(message);
        if (event === undefined) continue;
        last = options.isLast?.(event) ?? false;
        return { value: event, done: false };
      }
      await close();
      return { value: undefined, done: true };
    },
    async return() {
      last = true;
      initial.length = 0;
      await close();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await close();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
