import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cachingVerifier, type Principal } from '../../platform/auth.ts';
import { AppError } from '../../platform/errors.ts';

const tokenExpiringAt = (expSeconds: number, tag: string) =>
  `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp: expSeconds, tag })).toString('base64url')}.sig`;

describe('the token verification cache', () => {
  it('verifies a token once and answers repeats from memory until it expires', async () => {
    let now = 1_000_000;
    let calls = 0;
    const principal: Principal = { userId: 'u1', role: 'DRIVER' };
    const verify = cachingVerifier(async () => (calls++, principal), { now: () => now });
    const token = tokenExpiringAt(1_000_000 / 1000 + 60, 'a');
    assert.equal(await verify(token), principal);
    assert.equal(await verify(token), principal);
    assert.equal(calls, 1);
    now += 61_000;
    await verify(token);
    assert.equal(calls, 2, 'an expired entry is verified again (and the real verifier rejects it)');
  });

  it('never caches a failure', async () => {
    let calls = 0;
    const verify = cachingVerifier(async () => {
      calls++;
      throw new AppError('UNAUTHENTICATED');
    });
    const token = tokenExpiringAt(Math.floor(Date.now() / 1000) + 60, 'b');
    await assert.rejects(verify(token));
    await assert.rejects(verify(token));
    assert.equal(calls, 2);
  });

  it('stays within its bound by evicting the least recently used entry', async () => {
    let calls = 0;
    const verify = cachingVerifier(async () => (calls++, { userId: 'u', role: 'RIDER' }), { maxEntries: 2 });
    const exp = Math.floor(Date.now() / 1000) + 600;
    const [a, b, c] = ['a', 'b', 'c'].map((tag) => tokenExpiringAt(exp, tag));
    await verify(a);
    await verify(b);
    await verify(a); // a driver app's token, used again: kept over b
    await verify(c);
    assert.equal(calls, 3);
    await verify(a);
    assert.equal(calls, 3, 'the token used recently is still remembered');
    await verify(b);
    assert.equal(calls, 4, 'the least recently used was evicted');
  });
});
