import { LRUCache } from 'lru-cache';
import type { SupergraphSnapshot } from './supergraph.ts';

/**
 * What the router works out once per document and supergraph (a parse and validation, a plan, a fast-path
 * verdict), kept per snapshot: a reloaded supergraph starts afresh and the old one's entries go with it.
 * Least recently used out, never all at once: a client sending many distinct documents cannot push out
 * the ones in steady use.
 */
export class SnapshotCache<V extends {}> {
  readonly #max: number;
  readonly #bySnapshot = new WeakMap<SupergraphSnapshot, LRUCache<string, V>>();

  constructor(max: number) {
    this.#max = max;
  }

  /** The value kept for `key` under `snapshot`, or `compute`'s, kept from now on. */
  get(snapshot: SupergraphSnapshot, key: string, compute: () => V): V {
    let cache = this.#bySnapshot.get(snapshot);
    if (!cache) this.#bySnapshot.set(snapshot, (cache = new LRUCache({ max: this.#max })));
    let value = cache.get(key);
    if (value === undefined) cache.set(key, (value = compute()));
    return value;
  }
}
