/**
 * What a simulation counts: rides by outcome, how long a booking waits for its first offer to reach a
 * driver (both ends are in this process, so one clock measures it), and failed requests by code.
 */

/** Nearest-rank percentiles of a sample (NaN when it is empty). */
export function percentiles(values: readonly number[]) {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.length ? sorted[sorted.length - 1]! : NaN, count: sorted.length };
}

export interface StatsSnapshot {
  booked: number;
  matched: number;
  completed: number;
  cancelled: number;
  /** Cancellations by reason (NO_DRIVERS_FOUND, ...). */
  cancelledBy: Record<string, number>;
  offerLatencyMs: ReturnType<typeof percentiles>;
  errors: Record<string, number>;
}

export class SimulationStats {
  #booked = 0;
  #matched = 0;
  #completed = 0;
  #cancelled = 0;
  readonly #cancelledBy: Record<string, number> = {};
  readonly #errors: Record<string, number> = {};
  readonly #latencies: number[] = [];
  /** Per trip: when it was requested and when a driver first saw its offer, until both are known. */
  readonly #requestedAt = new Map<string, number>();
  readonly #offeredAt = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A rider booked `tripId`; `sentAt` is when the request left (the offer may arrive before the answer). */
  booked(tripId: string, sentAt: number): void {
    this.#booked += 1;
    const offeredAt = this.#offeredAt.get(tripId);
    if (offeredAt === undefined) this.#requestedAt.set(tripId, sentAt);
    else {
      this.#offeredAt.delete(tripId);
      this.#latencies.push(Math.max(0, offeredAt - sentAt));
    }
  }

  /** Some driver saw an offer of `tripId`; only the first counts. */
  offerSeen(tripId: string): void {
    const at = this.#now();
    const requestedAt = this.#requestedAt.get(tripId);
    if (requestedAt !== undefined) {
      this.#requestedAt.delete(tripId);
      this.#latencies.push(at - requestedAt);
    } else if (!this.#offeredAt.has(tripId)) {
      // Booked by someone else (a person in Sandbox) or answered before the booking's response came back.
      this.#offeredAt.set(tripId, at);
    }
  }

  matched(): void {
    this.#matched += 1;
  }

  completed(): void {
    this.#completed += 1;
  }

  cancelled(reason: string): void {
    this.#cancelled += 1;
    this.#cancelledBy[reason] = (this.#cancelledBy[reason] ?? 0) + 1;
  }

  error(code: string): void {
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
  }

  /** Now, on the clock `booked` times are read with. */
  now(): number {
    return this.#now();
  }

  snapshot(): StatsSnapshot {
    // Offers of trips nobody here booked, and bookings no driver was offered, would pile up over a long run.
    if (this.#offeredAt.size > 10_000) this.#offeredAt.clear();
    if (this.#requestedAt.size > 10_000) this.#requestedAt.clear();
    return {
      booked: this.#booked,
      matched: this.#matched,
      completed: this.#completed,
      cancelled: this.#cancelled,
      cancelledBy: { ...this.#cancelledBy },
      offerLatencyMs: percentiles(this.#latencies),
      errors: { ...this.#errors },
    };
  }
}
