import { AppError } from './errors.ts';

/**
 * Group commit: items submitted while a batch is being applied (or within the same turn of the event
 * loop) are applied together in the next one. No timer: a lone item goes at the next turn, and under
 * load each batch takes whatever queued during the previous one, so batches grow with the load.
 * The wallet's ledger applies transfers this way (one transaction per batch); trips sends fare holds
 * and dispatch's calls to drivers this way (one service call per batch).
 */

export interface BatcherOptions {
  /** Most items in one batch. */
  maxBatchSize: number;
  /** Batches applied at once (each in its own transaction, or its own call). */
  maxInFlight: number;
  /**
   * When applying a batch throws: `isolate` (default) applies each of its items again, alone, so one
   * item that breaks a batch fails only itself; `fail-all` fails every item with the error (a service
   * call that found its target down: retrying each alone would wait out a timeout per item).
   */
  onBatchFailure?: 'isolate' | 'fail-all';
}

/**
 * Applies a batch: one outcome per item, in order (a refusal is an outcome, not a throw). Throwing
 * fails the whole batch; the batcher then applies each of its items alone (`onBatchFailure`), so one
 * item that breaks a batch (a bug, a constraint the code missed) fails only itself.
 */
export type ApplyBatch<I, O> = (items: I[]) => Promise<O[]>;

interface Waiting<I, O> {
  item: I;
  resolve(outcome: O): void;
  reject(error: unknown): void;
}

export class Batcher<I, O> {
  readonly #apply: ApplyBatch<I, O>;
  readonly #options: BatcherOptions;
  #queue: Waiting<I, O>[] = [];
  #inFlight = 0;
  #scheduled = false;
  #closed = false;
  #idle: Array<() => void> = [];

  constructor(apply: ApplyBatch<I, O>, options: BatcherOptions) {
    this.#apply = apply;
    this.#options = options;
  }

  submit(item: I): Promise<O> {
    if (this.#closed) return Promise.reject(new Error('the batcher is closed'));
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Items waiting or being applied. */
  get pending(): number {
    return this.#queue.length + this.#inFlight;
  }

  /** Refuses new items and resolves once every submitted one is settled. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#queue.length === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #schedule() {
    if (this.#scheduled || this.#queue.length === 0 || this.#inFlight >= this.#options.maxInFlight) return;
    this.#scheduled = true;
    // The rest of this turn's submissions (a burst of requests read together) join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#queue.length > 0 && this.#inFlight < this.#options.maxInFlight) {
        const batch = this.#queue.splice(0, this.#options.maxBatchSize);
        this.#inFlight += 1;
        void this.#run(batch).finally(() => {
          this.#inFlight -= 1;
          this.#schedule();
          if (this.#queue.length === 0 && this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
      }
    });
  }

  async #run(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const outcomes = await this.#apply(batch.map((waiting) => waiting.item));
      // An answer per item or none: a callee answering a batch with too few (or no list) is a fault of the batch.
      if (!Array.isArray(outcomes) || outcomes.length !== batch.length) throw new AppError('INTERNAL_SERVER_ERROR', `A batch of ${batch.length} was answered with ${Array.isArray(outcomes) ? outcomes.length : 'no'} outcomes.`);
      batch.forEach((waiting, i) => waiting.resolve(outcomes[i]!));
    } catch (error) {
      if (batch.length === 1 || this.#options.onBatchFailure === 'fail-all') {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      // Isolate what broke the batch: each item again, alone (idempotency keys make a retry safe even
      // if the failed batch committed after all, e.g. a connection lost during COMMIT).
      for (const waiting of batch) await this.#run([waiting]);
    }
  }
}
