import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Marks work the process does on its own (relay, consumers) rather than for a request, so per-request
 * accounting (the statement counter tests use to prove batching) does not see it. Everything awaited
 * inside `runInBackground` inherits the mark.
 */
const background = new AsyncLocalStorage<true>();

export function runInBackground<T>(work: () => Promise<T>): Promise<T> {
  return background.run(true, work);
}

export function isBackgroundWork(): boolean {
  return background.getStore() === true;
}
