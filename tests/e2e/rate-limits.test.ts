/**
 * Rate limits through the running router (accounts behind it): HTTP 429 with Retry-After and
 * RateLimit-* headers, a log-in lockout that keeps even the right password from reaching accounts, and
 * graphql-ws connections per user closed with 1013 (try again later). The router logs at debug into
 * this test, which checks that no password ever appears in them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { loadConfig } from '../../platform/config.ts';
import { REDACTED_PATHS } from '../../platform/logger.ts';
import { redisNamespace } from '../../platform/redis.ts';
import { Redis } from 'ioredis';
import { startRouter, type RunningRouter } from '../../router/router.ts';
import { graphql } from '../support/client.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { TestSocket } from './subscriptions/socket.ts';

const LOG_IN = 'mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }';
const ME = '{ me { id } }';

describe('rate limits through the router', () => {
  let stack: Stack;
  let router: RunningRouter;
  const logs: string[] = [];
  before(async () => {
    stack = await startStack({
      subgraphs: ['accounts'],
      router: false,
      env: { RATE_LIMITS: 'true', RATE_LIMIT_LOG_IN_FAILURES: '3', RATE_LIMIT_LOG_IN_BACKOFF_SECONDS: '0', RATE_LIMIT_LOG_IN_LOCKOUT_SECONDS: '1', RATE_LIMIT_USER_PER_MINUTE: '5', RATE_LIMIT_WS_CONNECTIONS_PER_USER: '2' },
    });
    const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, { write: (line: string) => void logs.push(line) });
    router = await startRouter(loadConfig('router', stack.env), { logger });
  });
  after(async () => {
    await router?.stop();
    if (stack?.env.REDIS_URL) await deleteKeys(stack.env.REDIS_URL, `smartline:router:${redisNamespace(loadConfig('router', stack.env))}:*`);
    await stack?.stop();
  });

  const post = (query: string, variables?: Record<string, unknown>, token?: string) => graphql(router.url, query, variables, { token });

  let sequence = 0;
  /** Signs a user up through this router (the stack runs none of its own). */
  async function user(role: 'RIDER' | 'DRIVER' = 'RIDER'): Promise<{ phone: string; password: string; accessToken: string }> {
    sequence += 1;
    const phone = `+2011${String(process.pid % 10_000).padStart(4, '0')}${String(sequence).padStart(4, '0')}`;
    const password = 'correct-horse-battery';
    const result = await post('mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }', { input: { phone, password, name: `User ${sequence}`, role } });
    if (!result.body.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(result.body.errors)}`);
    return { phone, password, accessToken: result.body.data.signUp.accessToken };
  }

  it('answers with RateLimit-* headers, and a user over budget gets 429, RATE_LIMITED and Retry-After', async () => {
    const rider = await user();
    for (const remaining of ['4', '3', '2', '1', '0']) {
      const result = await post(ME, undefined, rider.accessToken);
      assert.equal(result.status, 200);
      assert.equal(result.headers.get('ratelimit-limit'), '5');
      assert.equal(result.headers.get('ratelimit-remaining'), remaining);
      assert.ok(Number(result.headers.get('ratelimit-reset')) >= 1);
    }
    const refused = await post(ME, undefined, rider.accessToken);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.errors?.[0].extensions?.code, 'RATE_LIMITED');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60);
    assert.equal(refused.body.errors?.[0].extensions?.retryAfterSeconds, retryAfter);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
  });

  it('locks a phone number out after 3 failed log-ins: the right password is refused (accounts never asked) until the lockout ends, then works', async () => {
    const rider = await user();
    const wrong = 'Not-The-Passw0rd-At-All';
    for (let i = 0; i < 3; i++) {
      const result = await post(LOG_IN, { phone: rider.phone, password: `${wrong}${i}` });
      assert.equal(result.body.errors?.[0].extensions?.code, 'INVALID_CREDENTIALS');
    }
    stack.resetStatementCount();
    const locked = await post(LOG_IN, { phone: rider.phone, password: rider.password });
    assert.equal(locked.status, 429);
    assert.equal(locked.body.errors?.[0].extensions?.code, 'RATE_LIMITED');
    assert.equal(locked.body.errors?.[0].extensions?.reason, 'LOG_IN_LOCKED');
    assert.equal(locked.headers.get('retry-after'), '1');
    assert.equal(stack.statementCount(), 0, 'the refused log-in never reached accounts');
    // Waiting out the real 1 s lockout (Redis or the process expires it; nothing to move): bounded by Retry-After.
    await sleep(1_100);
    const after = await post(LOG_IN, { phone: rider.phone, password: rider.password });
    assert.equal(after.status, 200);
    assert.ok(after.body.data?.logIn.accessToken);
    const log = logs.join('');
    assert.match(log, /log-in failed/);
    assert.match(log, /log-in locked out/);
    for (let i = 0; i < 3; i++) assert.ok(!log.includes(`${wrong}${i}`), 'no failed password in the router logs');
    assert.ok(!log.includes(rider.password), 'no password in the router logs');
    assert.ok(!log.includes(rider.phone), 'no full phone number in the router logs');
  });

  it('graphql-ws: connections per user over the limit close with 1013, and a closed one frees its slot', async () => {
    const driver = await user('DRIVER');
    const first = await TestSocket.connect(router.url, driver.accessToken);
    const second = await TestSocket.connect(router.url, driver.accessToken);
    const third = await TestSocket.open(router.url);
    third.send({ type: 'connection_init', payload: { authorization: `Bearer ${driver.accessToken}` } });
    assert.deepEqual(await third.closed, { code: 1013, reason: 'Rate limited: retry in 1 s' });
    await first.close();
    // The slot is given back when the router sees the close; the app's retry (graphql-ws backs off) gets in.
    let fourth: TestSocket | undefined;
    for (let attempt = 0; attempt < 20 && !fourth; attempt++) {
      fourth = await TestSocket.connect(router.url, driver.accessToken).catch(() => undefined);
      if (!fourth) await sleep(50);
    }
    assert.ok(fourth, 'connected once a socket closed');
    await Promise.all([second.close(), fourth.close()]);
  });
});

/** The router's rate-limit counters of this stack's namespace: nothing is left behind in a shared Redis. */
async function deleteKeys(url: string, pattern: string) {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
