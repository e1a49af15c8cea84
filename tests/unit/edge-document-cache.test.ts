import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSchema } from 'graphql';
import { pino } from 'pino';
import { EdgePipeline } from '../../router/edge/pipeline.ts';
import type { SupergraphSnapshot } from '../../router/supergraph.ts';

/**
 * The edge parses and validates a document once per supergraph and keeps it. A client sending many
 * distinct documents (every one a cache key) must not push out the documents the apps send all the
 * time: the cache evicts the least recently used, never all at once.
 */
describe("the edge's document cache", () => {
  const snapshot = { schema: buildSchema('type Query { echo(n: Int): Int }') } as unknown as SupergraphSnapshot;
  const pipeline = new EdgePipeline({ features: [], snapshot: () => snapshot, maxTokens: 1_000, logger: pino({ level: 'silent' }) });
  const connection = pipeline.newConnection({ transport: 'http', ip: '127.0.0.1', headers: {}, authorization: undefined });

  /** The document the pipeline admitted `query` with: the same object when it came from the cache. */
  async function documentOf(query: string) {
    const request = pipeline.newRequest(connection, { query }, 'request', 'gateway');
    assert.deepEqual(await pipeline.admit(request), { valid: true });
    return request.document;
  }

  it('keeps a document in steady use while a flood of distinct documents passes through', async () => {
    const steady = '{ echo(n: 0) }';
    const first = await documentOf(steady);
    // More distinct documents than the cache holds, the app's own document asked now and then among them.
    let oldest: unknown;
    for (let n = 1; n <= 5_000; n++) {
      const document = await documentOf(`{ echo(n: ${n}) }`);
      if (n === 1) oldest = document;
      if (n % 100 === 0) assert.equal(await documentOf(steady), first, `parsed again after ${n} other documents`);
    }
    assert.equal(await documentOf(steady), first);
    // The cache stays bounded: the flood's oldest document was let go, and is parsed anew.
    assert.notEqual(await documentOf('{ echo(n: 1) }'), oldest);
  });
});
