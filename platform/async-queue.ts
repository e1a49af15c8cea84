/**
 * A bounded queue consumed as an async iterator: the one buffer between a producer (Redis pub/sub,
 * an upstream subgraph) and a slow consumer (a client socket).
 * - 'drop-oldest': lossy streams (positions) keep only the newest `limit` items;
 * - 'fail': lossless streams (trip status) end with an error instead of ever dropping silently.
 */
export type OverflowPolicy = 'drop-oldest' | 'fail';

export class QueueOverflowError extends Error {
  constructor(limit: number) {
    super(`The consumer fell more than ${limit} messages behind.`);
    this.name = 'QueueOverflowError';
  }
}

export interface AsyncQueue<T> extends AsyncIterableIterator<T> {
  push(item: T): void;
  /** Ends the stream after the queued items; with an error, the consumer sees it after them. */
  end(error?: Error): void;
  readonly size: number;
  readonly dropped: number;
}

export function createAsyncQueue<T>(options: { limit: number; overflow: OverflowPolicy; onReturn?: () => void }): AsyncQueue<T> {
  const items: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | undefined;
  let failWaiting: ((error: Error) => void) | undefined;
  let done = false;
  let failure: Error | undefined;
  let dropped = 0;
  let returned = false;

  const finish = () => {
    if (returned) return;
    returned = true;
    options.onReturn?.();
  };

  const queue: AsyncQueue<T> = {
    push(item) {
      if (done) return;
      if (waiting) {
        const resolve = waiting;
        waiting = failWaiting = undefined;
        resolve({ value: item, done: false });
        return;
      }
      if (items.length >= options.limit) {
        if (options.overflow === 'drop-oldest') {
          items.shift();
          dropped += 1;
        } else {
          queue.end(new QueueOverflowError(options.limit));
          return;
        }
      }
      items.push(item);
    },
    end(error) {
      if (done) return;
      done = true;
      failure = error;
      if (waiting) {
        const resolve = waiting;
        const reject = failWaiting!;
        waiting = failWaiting = undefined;
        if (error) reject(error);
        else resolve({ value: undefined, done: true });
        finish();
      }
    },
    get size() {
      return items.length;
    },
    get dropped() {
      return dropped;
    },
    next() {
      if (items.length > 0) return Promise.resolve({ value: items.shift()!, done: false });
      if (done) {
        finish();
        if (failure) {
          const error = failure;
          failure = undefined;
          return Promise.reject(error);
        }
        return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiting = resolve;
        failWaiting = reject;
      });
    },
    return() {
      done = true;
      items.length = 0;
      if (waiting) {
        const resolve = waiting;
        waiting = failWaiting = undefined;
        resolve({ value: undefined, done: true });
      }
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(error?: unknown) {
      queue.end(error instanceof Error ? error : new Error(String(error)));
      return queue.next();
    },
    [Symbol.asyncIterator]() {
      return queue;
    },
  };
  return queue;
}
