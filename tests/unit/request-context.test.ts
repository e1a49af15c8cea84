import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestContextFactory } from '../../platform/context.ts';
import { createLogger } from '../../platform/logger.ts';

const logger = createLogger({ service: 'drivers', logLevel: 'silent', production: false, env: 'test' });
const input = (principal?: { userId: string; role: 'RIDER' }) => ({
  requestId: 'r-1',
  trace: { traceId: 'a'.repeat(32), traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
  logger,
  authorization: undefined,
  principal,
});
/** What Apollo Server does to a context before each operation (utils/cloneObject). */
const apolloClone = <T extends object>(context: T): T => Object.assign(Object.create(Object.getPrototypeOf(context)), context);

describe('the request context', () => {
  it('builds its extras only when one is read, once, and shares them with clones', () => {
    let builds = 0;
    const newContext = requestContextFactory(() => ({ em: { id: ++builds }, loaders: { count: builds } }), ['em', 'loaders']);
    const context = newContext(input());
    const clone = apolloClone(context);
    assert.equal(builds, 0, 'nothing built for a request that reads no extra');
    assert.equal(clone.em.id, 1);
    assert.equal(context.loaders.count, 1);
    assert.equal(builds, 1, 'one build for the request and its clones');
  });

  it('lets a clone see a principal set after it was made, and makes the child logger once', () => {
    const context = requestContextFactory()(input());
    const clone = apolloClone(context);
    const principalOf = (seen: typeof clone) => seen.principal;
    assert.equal(principalOf(clone), undefined);
    context.authenticateAs({ userId: 'u-1', role: 'RIDER' });
    assert.equal(principalOf(clone)?.userId, 'u-1');
    assert.equal(context.logger, clone.logger);
  });

  it("refuses extras named like the context's own fields", () => {
    assert.throws(() => requestContextFactory(() => ({ principal: 1 }), ['principal']), /principal/);
    assert.throws(() => requestContextFactory(() => ({ requestId: 1 }), ['requestId']), /requestId/);
  });
});
