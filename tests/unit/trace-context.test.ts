import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestIdFrom, traceContextFrom } from '../../platform/context.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

describe('trace context', () => {
  it("continues the caller's trace with a span of its own and the caller's flags", () => {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    const { traceId, traceparent } = traceContextFrom({ traceparent: incoming });
    assert.equal(traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    const [, trace, span, flags] = TRACEPARENT.exec(traceparent)!;
    assert.deepEqual([trace, flags], [traceId, '00']);
    assert.notEqual(span, '00f067aa0ba902b7');
  });

  it('starts a new sampled trace when the header is missing, malformed or all zeros', () => {
    for (const traceparent of [undefined, 'nonsense', '00-00000000000000000000000000000000-00f067aa0ba902b7-01']) {
      const context = traceContextFrom(traceparent === undefined ? {} : { traceparent });
      const [, trace, , flags] = TRACEPARENT.exec(context.traceparent)!;
      assert.equal(trace, context.traceId);
      assert.notEqual(trace, '0'.repeat(32));
      assert.equal(flags, '01');
    }
  });

  it('never hands out the same trace or span id twice, across many refills of its random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i += 1) {
      const [, trace, span] = TRACEPARENT.exec(traceContextFrom({}).traceparent)!;
      seen.add(trace!).add(span!);
    }
    assert.equal(seen.size, 10_000);
  });

  it("keeps a sane caller's request id and replaces anything else", () => {
    assert.equal(requestIdFrom({ 'x-request-id': 'req-42.a_b' }), 'req-42.a_b');
    assert.match(requestIdFrom({ 'x-request-id': 'has spaces and ;' }), /^[0-9a-f-]{36}$/);
    assert.match(requestIdFrom({}), /^[0-9a-f-]{36}$/);
  });
});
