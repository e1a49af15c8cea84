import { randomUUID } from 'node:crypto';
import { latLngToCell } from 'h3-js';
import { SUPPLY_SNAPSHOT_RESOLUTION, SupplySnapshot, type SupplySnapshotData } from '../../platform/events/contracts/index.ts';
import type { EventBus } from '../../platform/events/index.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Redis } from '../../platform/redis.ts';
import type { LiveLocations } from './live/engine.ts';

const CELLS_PER_TURN = 1_000;

/** Counts AVAILABLE drivers with a fresh fix (≤ 60 s) per res-8 cell as of `now`: one live-store round trip, cells computed here. */
export async function takeSupplySnapshot(live: LiveLocations, now: number = live.now()): Promise<SupplySnapshotData> {
  const positions = await live.store.availablePositions(now - live.rules.freshnessMs);
  const cells: Record<string, number> = {};
  for (let i = 0; i < positions.length; i++) {
    const { lat, lng } = positions[i]!;
    const cell = latLngToCell(lat, lng, SUPPLY_SNAPSHOT_RESOLUTION);
    cells[cell] = (cells[cell] ?? 0) + 1;
    // 10,000 cells take 10-25 ms: let requests in between (location updates wait behind a long loop).
    if (i % CELLS_PER_TURN === CELLS_PER_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  return { resolution: SUPPLY_SNAPSHOT_RESOLUTION, takenAt: new Date(now).toISOString(), cells };
}

/**
 * Publishes a SupplySnapshot event every `intervalMs` (hot and lossy by design: straight to the
 * stream, no outbox). With Redis, replicas take turns through a `SET NX PX` lock held for 90 % of the
 * interval, so one snapshot goes out per interval whichever replicas run; embedded, the one process
 * publishes.
 */
export class SupplyPublisher {
  readonly #live: LiveLocations;
  readonly #events: EventBus;
  readonly #redis: Redis | undefined;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #replica = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(options: { live: LiveLocations; events: EventBus; redis: Redis | undefined; intervalMs: number; logger: Logger }) {
    this.#live = options.live;
    this.#events = options.events;
    this.#redis = options.redis;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
  }

  start() {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.publishOnce()
        .catch((error) => this.#logger.error({ err: error }, 'publishing a supply snapshot failed'))
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Publishes a snapshot unless another replica holds this interval's turn; returns what was published, or null. */
  async publishOnce(now: number = this.#live.now()): Promise<SupplySnapshotData | null> {
    if (this.#redis) {
      const turn = await this.#redis.set(this.#live.keys.supplyLock, this.#replica, 'PX', Math.max(1, Math.floor(this.#intervalMs * 0.9)), 'NX');
      if (turn !== 'OK') return null;
    }
    const snapshot = await takeSupplySnapshot(this.#live, now);
    await this.#events.publish({ contract: SupplySnapshot, key: 'supply', data: snapshot });
    return snapshot;
  }

  async stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
