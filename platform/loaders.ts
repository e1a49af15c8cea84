import DataLoader from 'dataloader';

/**
 * A per-request DataLoader that fetches rows by key in one statement and returns them in key order
 * (null for missing keys). Every entity reference and list hop goes through one of these.
 */
export function keyedLoader<K extends string, V>(fetch: (keys: readonly K[]) => Promise<V[]>, keyOf: (row: V) => K): DataLoader<K, V | null> {
  return new DataLoader<K, V | null>(async (keys) => {
    const rows = await fetch(keys);
    const byKey = new Map(rows.map((row) => [keyOf(row), row]));
    return keys.map((key) => byKey.get(key) ?? null);
  }, { maxBatchSize: 500 });
}

/** Like keyedLoader, for one-to-many hops: every key gets the (possibly empty) list of its rows. */
export function groupedLoader<K extends string, V>(fetch: (keys: readonly K[]) => Promise<V[]>, keyOf: (row: V) => K): DataLoader<K, V[]> {
  return new DataLoader<K, V[]>(async (keys) => {
    const rows = await fetch(keys);
    const byKey = new Map<K, V[]>();
    for (const row of rows) {
      const key = keyOf(row);
      const list = byKey.get(key);
      if (list) list.push(row);
      else byKey.set(key, [row]);
    }
    return keys.map((key) => byKey.get(key) ?? []);
  }, { maxBatchSize: 500 });
}
