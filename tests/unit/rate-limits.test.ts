/**
 * The rate-limits edge feature, driven stage by stage with real parsed operations: on the real Redis at
 * REDIS_URL when it is set (a namespace of its own per test, deleted after), in the process otherwise.
 * "Accounts" here is a stand-in that knows one password and counts the attempts that reach it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getOperationAST, parse } from 'graphql';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Principal } from '../../platform/auth.ts';
import type { RateLimitsConfig } from '../../platform/config.ts';
import { loadConfig } from '../../platform/config.ts';
import { REDACTED_PATHS } from '../../platform/logger.ts';
import { addressKey, maskPhone, rateLimitClose, rateLimitsFeature, type RateLimitsFeature } from '../../router/edge/features/rate-limits.ts';
import { EdgeRefusal, type EdgeConnection, type EdgeOutcome, type EdgeRequest, type Transport } from '../../router/edge/types.ts';

const REDIS_URL = process.env.REDIS_URL;
const store = REDIS_URL ? 'Redis' : 'memory';
const redis = REDIS_URL ? new Redis(REDIS_URL, { maxRetriesPerRequest: 3, enableAutoPipelining: true }) : undefined;
after(() => redis?.disconnect());

/** Limits nothing in these tests hits unless a test lowers it. */
function limitsWith(overrides: { [K in keyof RateLimitsConfig]?: RateLimitsConfig[K] extends object ? Partial<RateLimitsConfig[K]> : RateLimitsConfig[K] } = {}): RateLimitsConfig {
  const base: RateLimitsConfig = {
    enabled: true,
    userPerMinute: 10_000,
    anonymousPerMinute: 10_000,
    mutationCost: 1,
    budgetSyncPercent: 2,
    logIn: { failuresPerPhone: 1_000, failuresPerIp: 1_000, failureWindowSeconds: 3600, lockoutSeconds: 900, backoffSeconds: 0, attemptsPerMinute: 10_000 },
    signUpPerHour: 10_000,
    refreshPerMinute: 10_000,
    ws: { connectionsPerUser: 1_000, connectionsPerIp: 1_000, connectsPerSecond: 1_000, leaseSeconds: 3600 },
    redisTimeoutMs: 250,
  };
  return { ...base, ...overrides, logIn: { ...base.logIn, ...overrides.logIn }, ws: { ...base.ws, ...overrides.ws } } as RateLimitsConfig;
}

const silent = pino({ level: 'silent' });
const namespaces: string[] = [];

/** A feature on this run's store, in a namespace of the test's own (pass `namespace` for a second replica). */
function feature(rateLimits: RateLimitsConfig, options: { namespace?: string; logger?: pino.Logger; redis?: Redis | null } = {}): RateLimitsFeature {
  const namespace = options.namespace ?? `rate-limits-test-${randomUUID()}`;
  namespaces.push(namespace);
  return rateLimitsFeature({
    redis: options.redis === null ? undefined : (options.redis ?? redis),
    config: { rateLimits, databaseUrl: undefined, dataDir: '.data' },
    logger: options.logger ?? silent,
    namespace,
  });
}

afterEach(async () => {
  if (!redis) return;
  for (const namespace of namespaces.splice(0)) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `smartline:router:${namespace}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length > 0) await redis.unlink(...keys);
  }
});

function connection(options: { ip?: string; principal?: Principal; transport?: Transport } = {}): EdgeConnection {
  return { transport: options.transport ?? 'http', ip: options.ip ?? '203.0.113.7', headers: {}, authorization: undefined, principal: options.principal, state: new Map() };
}

function request(conn: EdgeConnection, query: string, variables: Record<string, unknown> = {}): EdgeRequest {
  const document = parse(query);
  return {
    connection: conn,
    requestId: randomUUID(),
    path: 'gateway',
    query,
    operationName: undefined,
    variables,
    document,
    operation: getOperationAST(document) ?? undefined,
    schema: undefined,
    responseHeaders: {},
    extensions: {},
    state: new Map(),
    startedAt: performance.now(),
  };
}

const LOG_IN = 'mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }';
const QUERY = '{ me { id } }';
const MUTATION = 'mutation { logOut(refreshToken: "x") }';
const PHONE = '+201001234567';
const RIGHT = 'the-right-password';

/** Accounts, as far as log-in goes: one phone, one password; counts what reaches it. */
function accounts() {
  const reached: string[] = [];
  return {
    reached,
    answer(variables: Record<string, unknown>): EdgeOutcome {
      reached.push(String(variables.password));
      return { kind: 'answered', errorCodes: variables.phone === PHONE && variables.password === RIGHT ? [] : ['INVALID_CREDENTIALS'] };
    },
  };
}

type Result = { refusal: EdgeRefusal; request: EdgeRequest } | { refusal: undefined; request: EdgeRequest };

/** One operation through the stages, as the pipeline runs them; `answer` plays the subgraph. */
async function run(rl: RateLimitsFeature, conn: EdgeConnection, query: string, variables: Record<string, unknown> = {}, answer: (variables: Record<string, unknown>) => EdgeOutcome = () => ({ kind: 'answered', errorCodes: [] })): Promise<Result> {
  const req = request(conn, query, variables);
  try {
    await rl.request(req);
    await rl.operation(req);
  } catch (error) {
    if (!(error instanceof EdgeRefusal)) throw error;
    rl.response(req, { kind: 'refused', refusal: error, errorCodes: [error.code] });
    await rl.settled();
    return { refusal: error, request: req };
  }
  rl.response(req, answer(variables));
  await rl.settled();
  return { refusal: undefined, request: req };
}

function logIn(rl: RateLimitsFeature, service: ReturnType<typeof accounts>, password: string, options: { ip?: string; phone?: string } = {}) {
  return run(rl, connection({ ip: options.ip }), LOG_IN, { phone: options.phone ?? PHONE, password }, (variables) => service.answer(variables));
}

function assertRateLimited(result: Result, reason: string): EdgeRefusal {
  assert.ok(result.refusal, `expected a RATE_LIMITED refusal (${reason})`);
  const { refusal } = result;
  assert.equal(refusal.code, 'RATE_LIMITED');
  assert.equal(refusal.httpStatus, 429);
  assert.equal(refusal.extensions.reason, reason);
  const retryAfter = Number(refusal.headers['Retry-After']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After is whole seconds: ${refusal.headers['Retry-After']}`);
  assert.equal(refusal.extensions.retryAfterSeconds, retryAfter);
  assert.equal(refusal.headers['RateLimit-Remaining'], '0');
  return refusal;
}

describe(`rate limits (${store})`, () => {
  it('a signed-in user has a budget per minute, with RateLimit-* headers, then 429 and Retry-After', async () => {
    const rl = feature(limitsWith({ userPerMinute: 3 }));
    const user = connection({ principal: { userId: 'u1', role: 'RIDER' } });
    for (const remaining of ['2', '1', '0']) {
      const { refusal, request: req } = await run(rl, user, QUERY);
      assert.equal(refusal, undefined);
      assert.equal(req.responseHeaders['RateLimit-Limit'], '3');
      assert.equal(req.responseHeaders['RateLimit-Remaining'], remaining);
      const reset = Number(req.responseHeaders['RateLimit-Reset']);
      assert.ok(reset >= 1 && reset <= 60, `RateLimit-Reset in seconds: ${reset}`);
    }
    const refusal = assertRateLimited(await run(rl, user, QUERY), 'USER_BUDGET');
    assert.ok(refusal.extensions.retryAfterSeconds as number <= 60);
    assert.equal((await run(rl, connection({ principal: { userId: 'u2', role: 'RIDER' } }), QUERY)).refusal, undefined, 'another user has a budget of their own');
  });

  it('anonymous callers share a budget per address; an IPv6 /64 is one address', async () => {
    const rl = feature(limitsWith({ anonymousPerMinute: 2 }));
    await run(rl, connection({ ip: '2001:db8:1:2::1' }), QUERY);
    await run(rl, connection({ ip: '2001:db8:1:2:ffff::9' }), QUERY);
    assertRateLimited(await run(rl, connection({ ip: '2001:0db8:0001:0002:0:0:0:77' }), QUERY), 'ADDRESS_BUDGET');
    assert.equal((await run(rl, connection({ ip: '2001:db8:1:3::1' }), QUERY)).refusal, undefined);
    assert.equal((await run(rl, connection({ ip: '198.51.100.1' }), QUERY)).refusal, undefined);
  });

  it('a mutation costs more of the budget than a query', async () => {
    const rl = feature(limitsWith({ userPerMinute: 5, mutationCost: 3 }));
    const user = connection({ principal: { userId: 'u1', role: 'DRIVER' } });
    assert.equal((await run(rl, user, MUTATION)).refusal, undefined);
    assertRateLimited(await run(rl, user, MUTATION), 'USER_BUDGET');
  });

  it('two replicas over one Redis share the budget', { skip: redis ? false : 'needs REDIS_URL: the in-process store is per replica by design' }, async () => {
    const namespace = `rate-limits-test-${randomUUID()}`;
    const [a, b] = [feature(limitsWith({ userPerMinute: 4 }), { namespace }), feature(limitsWith({ userPerMinute: 4 }), { namespace })];
    const user = connection({ principal: { userId: 'u1', role: 'RIDER' } });
    for (const replica of [a, b, a, b]) assert.equal((await run(replica, user, QUERY)).refusal, undefined);
    assertRateLimited(await run(a, user, QUERY), 'USER_BUDGET');
    assertRateLimited(await run(b, user, QUERY), 'USER_BUDGET');
  });

  describe('a large budget, counted in the process and added to Redis every share of it', { skip: redis ? false : 'needs REDIS_URL: without Redis every budget is counted in the process' }, () => {
    // 100 points a minute, synced every 10 (10 %).
    const large = () => limitsWith({ userPerMinute: 100, budgetSyncPercent: 10 });
    const user = () => connection({ principal: { userId: 'u1', role: 'RIDER' } });
    const sharedCount = async (rl: RateLimitsFeature) => Number((await redis!.get(`${rl.keyPrefixes.find((prefix) => prefix.endsWith(':user'))}:{u1}`)) ?? 0);

    it('Redis hears of the points in batches of the share, not operation by operation', async () => {
      const rl = feature(large());
      for (let i = 0; i < 25; i++) assert.equal((await run(rl, user(), QUERY)).refusal, undefined);
      assert.equal(await sharedCount(rl), 20, 'two syncs of 10; the last 5 are still counted here only');
    });

    it('one replica alone refuses exactly at the budget', async () => {
      const rl = feature(large());
      for (let i = 0; i < 100; i++) assert.equal((await run(rl, user(), QUERY)).refusal, undefined, `operation ${i + 1}`);
      assertRateLimited(await run(rl, user(), QUERY), 'USER_BUDGET');
    });

    it('two replicas share it: the second is refused once the total is spent, give or take one share', async () => {
      const namespace = `rate-limits-test-${randomUUID()}`;
      const [a, b] = [feature(large(), { namespace }), feature(large(), { namespace })];
      for (let i = 0; i < 60; i++) assert.equal((await run(a, user(), QUERY)).refusal, undefined);
      let admitted = 0;
      while ((await run(b, user(), QUERY)).refusal === undefined) admitted += 1;
      assert.ok(admitted >= 40 && admitted <= 40 + 10, `the second replica admitted ${admitted} of the 40 left`);
      // The first replica learns of the second's points at its next sync, within one share.
      let more = 0;
      while ((await run(a, user(), QUERY)).refusal === undefined) more += 1;
      assert.ok(more <= 10, `the first replica admitted ${more} more`);
      assert.ok(60 + admitted + more <= 100 + 2 * 10, `${60 + admitted + more} admitted in all`);
    });
  });

  it('the per-API-key hook charges a key instead of the user', async () => {
    const rl = rateLimitsFeature({
      redis,
      config: { rateLimits: limitsWith({ userPerMinute: 1 }), databaseUrl: undefined, dataDir: '.data' },
      logger: silent,
      namespace: `rate-limits-test-${randomUUID()}`,
      apiKeyBudget: (req) => (req.connection.headers['x-api-key'] ? { keyId: String(req.connection.headers['x-api-key']), pointsPerMinute: 2 } : undefined),
    });
    namespaces.push(rl.keyPrefixes[0].split(':')[2]!);
    const partner: EdgeConnection = { ...connection({ principal: { userId: 'p1', role: 'PARTNER' } }), headers: { 'x-api-key': 'key-1' } };
    for (let i = 0; i < 2; i++) assert.equal((await run(rl, partner, QUERY)).refusal, undefined);
    assertRateLimited(await run(rl, partner, QUERY), 'API_KEY_BUDGET');
  });

  describe('log-in', () => {
    it('locks a phone number out after N consecutive failures: the right password is refused, without reaching accounts, until the lockout ends', async () => {
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 3, lockoutSeconds: 1 } }));
      const service = accounts();
      for (let i = 0; i < 3; i++) assert.equal((await logIn(rl, service, `wrong-${i}`)).refusal, undefined);
      const refusal = assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED');
      assert.equal(refusal.extensions.retryAfterSeconds, 1);
      assert.deepEqual(service.reached, ['wrong-0', 'wrong-1', 'wrong-2'], 'refused attempts never reach accounts');
      // Waiting out the real 1 s lockout (Redis expires the key itself; no clock to move): bounded by Retry-After.
      await sleep(Number(refusal.headers['Retry-After']) * 1000 + 100);
      assert.equal((await logIn(rl, service, RIGHT)).refusal, undefined);
      assert.equal(service.reached.at(-1), RIGHT);
    });

    it('a successful log-in forgets the failures before it', async () => {
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 3 } }));
      const service = accounts();
      for (const password of ['wrong', 'wrong', RIGHT, 'wrong', 'wrong', RIGHT, 'wrong', 'wrong']) assert.equal((await logIn(rl, service, password)).refusal, undefined);
      assert.equal(service.reached.length, 8);
    });

    it('waits grow after the 2nd failure, then the default lockout is 15 minutes (in-process clock, mocked)', async (t) => {
      t.mock.timers.enable({ apis: ['Date', 'setTimeout'] });
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 5, lockoutSeconds: 900, backoffSeconds: 1 } }), { redis: null });
      const service = accounts();
      assert.equal((await logIn(rl, service, 'wrong-1')).refusal, undefined, 'no wait after one mistake');
      assert.equal((await logIn(rl, service, 'wrong-2')).refusal, undefined);
      for (const [failures, wait] of [[2, 1], [3, 2], [4, 4]]) {
        const refused = assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED');
        assert.equal(refused.extensions.retryAfterSeconds, wait, `after ${failures} failures`);
        t.mock.timers.tick(wait * 1000);
        assert.equal((await logIn(rl, service, `wrong-${failures + 1}`)).refusal, undefined);
      }
      // The 5th failure: locked out for 15 minutes.
      const locked = assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED');
      assert.equal(locked.extensions.retryAfterSeconds, 900);
      t.mock.timers.tick(899_000);
      assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED');
      t.mock.timers.tick(1_000);
      assert.equal((await logIn(rl, service, RIGHT)).refusal, undefined);
      assert.equal(service.reached.length, 6);
    });

    it('after the 2nd failure the next attempt waits (Retry-After 1 s)', async () => {
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 5, backoffSeconds: 1 } }));
      const service = accounts();
      await logIn(rl, service, 'wrong-1');
      await logIn(rl, service, 'wrong-2');
      assert.equal(assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED').extensions.retryAfterSeconds, 1);
    });

    it('locks an address out after N failures over any phone numbers', async () => {
      const rl = feature(limitsWith({ logIn: { failuresPerIp: 3 } }));
      const service = accounts();
      for (let i = 0; i < 3; i++) await logIn(rl, service, 'wrong', { phone: `+20100000000${i}` });
      assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED');
      assert.equal((await logIn(rl, service, RIGHT, { ip: '198.51.100.20' })).refusal, undefined, 'another address logs in');
    });

    it('caps attempts per address per minute, failed or not', async () => {
      const rl = feature(limitsWith({ logIn: { attemptsPerMinute: 2 } }));
      const service = accounts();
      await logIn(rl, service, RIGHT);
      await logIn(rl, service, RIGHT);
      assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_ATTEMPTS');
    });

    it('aliases do not multiply guesses: every logIn field of an operation takes a slot', async () => {
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 2 } }));
      const triple = `mutation($p: String!) { a: logIn(phone: $p, password: "guess-1-xx") { accessToken } b: logIn(phone: $p, password: "guess-2-xx") { accessToken } ... on Mutation { c: logIn(phone: "${PHONE}", password: "guess-3-xx") { accessToken } } }`;
      assertRateLimited(await run(rl, connection(), triple, { p: PHONE }), 'LOG_IN_LOCKED');
      const service = accounts();
      assert.equal((await logIn(rl, service, RIGHT)).refusal, undefined, 'the refused operation took no slots');
    });

    it('an attempt that ends otherwise (refused further on, a fault) gives its slot back', async () => {
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 1 } }));
      for (const outcome of [{ kind: 'failed', errorCodes: [] }, { kind: 'answered', errorCodes: ['BAD_USER_INPUT'] }] as EdgeOutcome[]) {
        assert.equal((await run(rl, connection(), LOG_IN, { phone: PHONE, password: 'x' }, () => outcome)).refusal, undefined);
      }
      const service = accounts();
      assert.equal((await logIn(rl, service, 'wrong')).refusal, undefined);
      assertRateLimited(await logIn(rl, service, RIGHT), 'LOG_IN_LOCKED');
    });

    it('50 racing attempts for one phone number: exactly the configured number reach accounts', async () => {
      const namespace = `rate-limits-test-${randomUUID()}`;
      const limits = limitsWith({ logIn: { failuresPerPhone: 5 } });
      // Two replicas when the store is Redis (one budget across them); one in the process.
      const replicas = redis ? [feature(limits, { namespace }), feature(limits, { namespace })] : [feature(limits, { namespace })];
      const service = accounts();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => logIn(replicas[i % replicas.length], service, `wrong-${i}`, { ip: `198.51.100.${i}` })));
      assert.equal(service.reached.length, 5);
      assert.equal(results.filter((result) => result.refusal).length, 45);
      for (const result of results) if (result.refusal) assertRateLimited(result, 'LOG_IN_LOCKED');
      const locked = assertRateLimited(await logIn(replicas[0], service, RIGHT), 'LOG_IN_LOCKED');
      assert.ok((locked.extensions.retryAfterSeconds as number) > 800, 'the failures locked the phone out');
    });

    it('failed log-ins are logged with the phone masked and never the password', async () => {
      const lines: string[] = [];
      const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, { write: (line: string) => void lines.push(line) });
      const rl = feature(limitsWith({ logIn: { failuresPerPhone: 2, backoffSeconds: 1 } }), { logger });
      const service = accounts();
      const password = 'Sup3r-Secret-Passw0rd';
      await logIn(rl, service, password);
      await logIn(rl, service, `${password}!`);
      const log = lines.join('');
      assert.match(log, /log-in failed/);
      assert.match(log, /log-in locked out/);
      assert.match(log, new RegExp(maskPhone(PHONE).replace(/[+*]/g, '\\$&')));
      assert.ok(!log.includes(password), 'no password in the logs');
      assert.ok(!log.includes(PHONE), 'no full phone number in the logs');
    });
  });

  it('sign-up and refreshSession are limited per address', async () => {
    const rl = feature(limitsWith({ signUpPerHour: 2, refreshPerMinute: 1 }));
    const signUp = 'mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }';
    const refresh = 'mutation { refreshSession(refreshToken: "r") { accessToken } }';
    await run(rl, connection(), signUp, { input: {} });
    await run(rl, connection(), signUp, { input: {} });
    assertRateLimited(await run(rl, connection(), signUp, { input: {} }), 'SIGN_UP');
    assert.equal((await run(rl, connection(), refresh)).refusal, undefined);
    assertRateLimited(await run(rl, connection(), refresh), 'REFRESH');
    assert.equal((await run(rl, connection({ ip: '198.51.100.9' }), signUp, { input: {} })).refusal, undefined);
  });

  describe('graphql-ws connections', () => {
    const ws = (options: { ip?: string; userId?: string } = {}) => connection({ transport: 'ws', ip: options.ip, principal: options.userId ? { userId: options.userId, role: 'DRIVER' } : undefined });

    it('open connections per user are taken on connect and given back on disconnect', async () => {
      const rl = feature(limitsWith({ ws: { connectionsPerUser: 2 } }));
      const [first, second, third] = [ws({ userId: 'd1' }), ws({ userId: 'd1' }), ws({ userId: 'd1' })];
      await rl.connect(first);
      await rl.connect(second);
      const refusal = await rl.connect(third).then(() => undefined, (error: unknown) => error);
      assert.ok(refusal instanceof EdgeRefusal && refusal.code === 'RATE_LIMITED' && refusal.extensions.reason === 'WS_CONNECTIONS');
      assert.deepEqual(rateLimitClose(refusal), { code: 1013, reason: 'Rate limited: retry in 1 s' });
      await rl.connect(ws({ userId: 'd2' }));
      rl.disconnect(first);
      rl.disconnect(first); // twice: gives back once
      rl.disconnect(third); // refused: held nothing
      await rl.settled();
      await rl.connect(third);
      await assert.rejects(rl.connect(ws({ userId: 'd1' })), { extensions: { code: 'RATE_LIMITED', reason: 'WS_CONNECTIONS', retryAfterSeconds: 1 } });
    });

    it('open connections per address', async () => {
      const rl = feature(limitsWith({ ws: { connectionsPerIp: 2 } }));
      const open = [ws({ userId: 'a' }), ws({ userId: 'b' })];
      for (const conn of open) await rl.connect(conn);
      await assert.rejects(rl.connect(ws({ userId: 'c' })), { extensions: { code: 'RATE_LIMITED', reason: 'WS_CONNECTIONS', retryAfterSeconds: 1 } });
      await rl.connect(ws({ userId: 'c', ip: '198.51.100.3' }));
      rl.disconnect(open[0]);
      await rl.settled();
      await rl.connect(ws({ userId: 'c' }));
    });

    it('connection attempts per second per address', async () => {
      const rl = feature(limitsWith({ ws: { connectsPerSecond: 3 } }));
      for (let i = 0; i < 3; i++) await rl.connect(ws());
      await assert.rejects(rl.connect(ws()), { extensions: { code: 'RATE_LIMITED', reason: 'WS_CONNECTS', retryAfterSeconds: 1 } });
    });

    it('a subscribe over the budget is refused (the adapter sends it as an error message)', async () => {
      const rl = feature(limitsWith({ userPerMinute: 1 }));
      const conn = ws({ userId: 'd1' });
      await rl.connect(conn);
      await run(rl, conn, 'subscription { tripUpdated { id } }');
      assertRateLimited(await run(rl, conn, 'subscription { tripUpdated { id } }'), 'USER_BUDGET');
    });

    it('HTTP requests take no connection slots', async () => {
      const rl = feature(limitsWith({ ws: { connectionsPerIp: 1, connectsPerSecond: 1 } }));
      for (let i = 0; i < 3; i++) await rl.connect(connection());
      await rl.connect(ws());
    });
  });
});

describe('rate limits when Redis fails: open, per process, with a warning', () => {
  function capture() {
    const lines: string[] = [];
    return { lines, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) };
  }

  it('Redis unreachable: operations pass, counted in the process, and a warning is logged', async () => {
    const unreachable = new Redis('redis://127.0.0.1:9', { lazyConnect: false, maxRetriesPerRequest: 0, retryStrategy: () => 1000 });
    unreachable.on('error', () => {});
    try {
      const { lines, logger } = capture();
      const rl = feature(limitsWith({ userPerMinute: 2 }), { redis: unreachable, logger });
      const user = connection({ principal: { userId: 'u1', role: 'RIDER' } });
      assert.equal((await run(rl, user, QUERY)).refusal, undefined);
      assert.equal((await run(rl, user, QUERY)).refusal, undefined);
      assertRateLimited(await run(rl, user, QUERY), 'USER_BUDGET');
      assert.ok(rl.fallbacks >= 3);
      assert.match(lines.join(''), /Redis is unavailable or slow/);
    } finally {
      unreachable.disconnect();
    }
  });

  it('Redis that stops answering: each call gives up after redisTimeoutMs and counts in the process', { skip: REDIS_URL ? false : 'needs REDIS_URL' }, async () => {
    // The real Redis behind a TCP relay this test can freeze (a hung server or a silent network partition).
    const upstream = new URL(REDIS_URL!);
    let frozen = false;
    const sockets = new Set<Socket>();
    const relay: Server = createServer((client) => {
      const server = connect(Number(upstream.port || 6379), upstream.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('error', () => {});
      }
      client.on('data', (chunk) => void (frozen || server.write(chunk)));
      server.on('data', (chunk) => void (frozen || client.write(chunk)));
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayed = new URL(REDIS_URL!);
    relayed.hostname = '127.0.0.1';
    relayed.port = String((relay.address() as { port: number }).port);
    const client = new Redis(relayed.toString(), { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      await new Promise<void>((resolve) => (client.status === 'ready' ? resolve() : client.once('ready', () => resolve())));
      const { lines, logger } = capture();
      const rl = feature(limitsWith({ userPerMinute: 1, redisTimeoutMs: 50 }), { redis: client, logger });
      const user = connection({ principal: { userId: 'u1', role: 'RIDER' } });
      assert.equal((await run(rl, connection({ principal: { userId: 'u2', role: 'RIDER' } }), QUERY)).refusal, undefined);
      assert.equal(rl.fallbacks, 0, 'counted in Redis while it answers');
      frozen = true;
      const started = performance.now();
      assert.equal((await run(rl, user, QUERY)).refusal, undefined);
      assert.ok(performance.now() - started < 1_000, 'answered after the timeout, not after Redis');
      assertRateLimited(await run(rl, user, QUERY), 'USER_BUDGET');
      assert.ok(rl.fallbacks >= 2);
      assert.match(lines.join(''), /Redis is unavailable or slow/);
    } finally {
      client.disconnect();
      for (const socket of sockets) socket.destroy();
      relay.close();
    }
  });
});

describe('rate limits: pieces', () => {
  it('keys addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', () => {
    assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('2001:0DB8:0000:0001:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('unknown'), 'unknown');
  });

  it('masks phone numbers for logs', () => {
    assert.equal(maskPhone('+201001234567'), '+2010*****567');
  });

  it('the defaults leave a busy driver app far from every limit', () => {
    const { rateLimits } = loadConfig('router', {});
    // A location every 3 s (a mutation) and a few queries a minute.
    const driverPerMinute = 20 * rateLimits.mutationCost + 10;
    assert.ok(driverPerMinute * 5 <= rateLimits.userPerMinute, `${driverPerMinute} points a minute against ${rateLimits.userPerMinute}`);
    assert.ok(rateLimits.ws.connectionsPerUser >= 3);
    assert.equal(rateLimits.logIn.failuresPerPhone, 5);
    assert.equal(rateLimits.logIn.lockoutSeconds, 900);
  });
});


