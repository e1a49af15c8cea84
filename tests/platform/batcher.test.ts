import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher } from '../../platform/batcher.ts';

/** A deferred promise: the test decides when a batch "commits". */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('the group-commit batcher (ledger transfers, service calls)', () => {
  it('applies items submitted in the same turn together, and those arriving meanwhile in the next batch', async () => {
    const batches: number[][] = [];
    const first = gate();
    const batcher = new Batcher<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await first.opened;
        return items.map((item) => item * 10);
      },
      { maxBatchSize: 100, maxInFlight: 1 },
    );
    const early = [1, 2, 3].map((item) => batcher.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    const late = [4, 5].map((item) => batcher.submit(item));
    first.open();
    assert.deepEqual(await Promise.all([...early, ...late]), [10, 20, 30, 40, 50]);
    assert.deepEqual(batches, [[1, 2, 3], [4, 5]]);
    await batcher.close();
  });

  it('splits a burst into batches of at most maxBatchSize, at most maxInFlight at once', async () => {
    let inFlight = 0;
    let most = 0;
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(
      async (items) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        sizes.push(items.length);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        return items;
      },
      { maxBatchSize: 4, maxInFlight: 2 },
    );
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(i)));
    assert.deepEqual(results, Array.from({ length: 10 }, (_, i) => i));
    assert.deepEqual(sizes, [4, 4, 2]);
    assert.equal(most, 2);
    await batcher.close();
  });

  it('fails only the item that breaks a batch: the others are applied again, each alone', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, string>(
      async (items) => {
        batches.push(items);
        if (items.includes(13)) throw new Error('check constraint violated');
        return items.map(String);
      },
      { maxBatchSize: 100, maxInFlight: 1 },
    );
    const results = await Promise.allSettled([12, 13, 14].map((item) => batcher.submit(item)));
    assert.deepEqual(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message)), ['12', 'check constraint violated', '14']);
    assert.deepEqual(batches, [[12, 13, 14], [12], [13], [14]]);
    await batcher.close();
  });

  it('waits for submitted items when closed, then refuses new ones', async () => {
    const release = gate();
    const batcher = new Batcher<number, number>(
      async (items) => {
        await release.opened;
        return items;
      },
      { maxBatchSize: 10, maxInFlight: 1 },
    );
    const submitted = batcher.submit(1);
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, false);
    await assert.rejects(batcher.submit(2), /closed/);
    release.open();
    await closing;
    assert.equal(await submitted, 1);
  });
});
