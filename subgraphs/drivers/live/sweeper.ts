import type { Logger } from '../../../platform/logger.ts';
import { sourcesOf } from '../availability.ts';
import type { LiveStore } from './store.ts';

/**
 * Takes silent drivers out of the live index: every `intervalMs`, drivers whose presence (30 s from
 * their last live fix) has expired leave the geo index, and go OFFLINE unless BUSY or in COOLDOWN.
 * It also ends due cooldowns first (COOLDOWN → AVAILABLE): the replica-safe backstop of the timer
 * the TripCompleted reaction sets, so a cooldown ends at most one interval late even if that replica died.
 * Idempotent, so every replica may run it. `sweepOnce(now)` is the whole job, callable with any clock.
 */
export class Sweeper {
  readonly #store: LiveStore;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<string[]> | undefined;

  constructor(options: { store: LiveStore; now: () => number; intervalMs: number; logger: Logger }) {
    this.#store = options.store;
    this.#now = options.now;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
  }

  /** Starts the periodic job; an interval of 0 leaves it to explicit sweepOnce calls. */
  start() {
    if (this.#intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.sweepOnce().catch((error) => this.#logger.error({ err: error }, 'sweeping silent drivers failed'));
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Sweeps as of `now`; returns the drivers taken OFFLINE. */
  async sweepOnce(now: number = this.#now()): Promise<string[]> {
    const job = async () => {
      const rested = await this.#store.endCooldowns(now);
      if (rested.length > 0) this.#logger.info({ count: rested.length }, 'cooldowns ended');
      return this.#store.sweep(now, sourcesOf('OFFLINE'));
    };
    const run = job().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    const swept = await run;
    if (swept.length > 0) this.#logger.info({ count: swept.length }, 'silent drivers taken offline');
    return swept;
  }

  async stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
