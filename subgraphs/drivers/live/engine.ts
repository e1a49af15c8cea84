import type { SubgraphRuntime } from '../../../platform/subgraph.ts';
import type { PubSub } from '../../../platform/pubsub.ts';
import type { Logger } from '../../../platform/logger.ts';
import { DriverDirectory } from '../directory.ts';
import { locationSchemas, type LocationSchemas } from '../validation.ts';
import { EmbeddedLiveStore } from './embedded-store.ts';
import { DEFAULT_RULES, type LiveRules } from './fixes.ts';
import { LocationHistory, type HistoryOptions } from './history.ts';
import { driverKeys, redisNamespace, type DriverKeys } from './keys.ts';
import { RedisLiveStore } from './redis-store.ts';
import type { LiveStore } from './store.ts';
import { Sweeper } from './sweeper.ts';

export interface Clock {
  now(): number;
}

/** Repeats a task; returns how to stop it. Tests substitute one they drive by hand. */
export interface Scheduler {
  every(intervalMs: number, task: () => void): () => void;
}

export const systemClock: Clock = { now: () => Date.now() };

export const timerScheduler: Scheduler = {
  every(intervalMs, task) {
    const timer = setInterval(task, intervalMs);
    return () => clearInterval(timer);
  },
};

/** Knobs of live locations, set in code (tests and benchmarks); the defaults are production's. */
export interface LiveLocationsOptions {
  /** Server time for validation, staleness, presence and the sweeper (default: the system clock). */
  clock?: Clock;
  rules?: Partial<LiveRules>;
  /** How often silent drivers are swept (default 5000 ms); 0 runs no timer (call sweepOnce). */
  sweepIntervalMs?: number;
  /** How often nearbyDriversUpdates sends a snapshot (default 3000 ms). */
  nearbyUpdatesIntervalMs?: number;
  /** Drives the nearbyDriversUpdates ticks (default: real timers). */
  scheduler?: Scheduler;
  history?: HistoryOptions;
  /** Overrides the Redis namespace derived from the database name (keys.ts). */
  keyPrefix?: string;
}

/** Everything live about drivers, for one running drivers subgraph. */
export class LiveLocations {
  readonly store: LiveStore;
  readonly history: LocationHistory;
  readonly sweeper: Sweeper;
  readonly directory: DriverDirectory;
  readonly pubsub: PubSub;
  readonly keys: DriverKeys;
  readonly rules: LiveRules;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly nearbyUpdatesIntervalMs: number;
  /** Input schemas bound to this clock, built once. */
  readonly schemas: LocationSchemas;
  readonly #feeds = new Set<() => void>();
  readonly #start: () => Promise<void>;

  constructor(parts: {
    store: LiveStore;
    history: LocationHistory;
    sweeper: Sweeper;
    directory: DriverDirectory;
    pubsub: PubSub;
    keys: DriverKeys;
    rules: LiveRules;
    clock: Clock;
    scheduler: Scheduler;
    nearbyUpdatesIntervalMs: number;
    start: () => Promise<void>;
  }) {
    this.store = parts.store;
    this.history = parts.history;
    this.sweeper = parts.sweeper;
    this.directory = parts.directory;
    this.pubsub = parts.pubsub;
    this.keys = parts.keys;
    this.rules = parts.rules;
    this.clock = parts.clock;
    this.scheduler = parts.scheduler;
    this.nearbyUpdatesIntervalMs = parts.nearbyUpdatesIntervalMs;
    this.schemas = locationSchemas(() => this.clock.now(), this.rules.futureSkewMs);
    this.#start = parts.start;
  }

  now(): number {
    return this.clock.now();
  }

  async start() {
    await this.#start();
    await this.history.start();
    this.sweeper.start();
  }

  /** A periodic feed (nearbyDriversUpdates) registers its cancel here; stop() cancels what is left. */
  trackFeed(cancel: () => void): () => void {
    this.#feeds.add(cancel);
    return () => {
      if (this.#feeds.delete(cancel)) cancel();
    };
  }

  /** Open periodic feeds: 0 once every subscriber is gone (no timer outlives its subscription). */
  get activeFeeds(): number {
    return this.#feeds.size;
  }

  sweepOnce(now?: number): Promise<string[]> {
    return this.sweeper.sweepOnce(now);
  }

  /** Before Redis and the ORM close: no more sweeps or ticks, and the history buffer written out. */
  async stop() {
    for (const cancel of [...this.#feeds]) cancel();
    this.#feeds.clear();
    await this.sweeper.stop();
    await this.history.stop();
  }
}

export function createLiveLocations(runtime: SubgraphRuntime, options: LiveLocationsOptions = {}): LiveLocations {
  const { config, db, redis, pubsub } = runtime;
  const logger: Logger = runtime.logger.child({ component: 'live-locations' });
  const clock = options.clock ?? systemClock;
  const rules: LiveRules = Object.freeze({ ...DEFAULT_RULES, ...options.rules });
  const keys = driverKeys(redisNamespace(config, options.keyPrefix));
  const embedded = redis ? undefined : new EmbeddedLiveStore({ db, pubsub, keys, rules, logger });
  const store: LiveStore = redis ? new RedisLiveStore(redis, keys, rules) : embedded!;
  const now = () => clock.now();
  return new LiveLocations({
    store,
    history: new LocationHistory(db, logger, now, options.history),
    sweeper: new Sweeper({ store, now, intervalMs: options.sweepIntervalMs ?? 5_000, logger }),
    directory: new DriverDirectory(db),
    pubsub,
    keys,
    rules,
    clock,
    scheduler: options.scheduler ?? timerScheduler,
    nearbyUpdatesIntervalMs: options.nearbyUpdatesIntervalMs ?? 3_000,
    start: async () => {
      await embedded?.start();
    },
  });
}
