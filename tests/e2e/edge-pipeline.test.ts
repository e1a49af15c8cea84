import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../platform/logger.ts';
import { loadConfig } from '../../platform/config.ts';
import { startRouter, type RunningRouter } from '../../router/router.ts';
import { TestSocket } from './subscriptions/socket.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

/**
 * One pipeline, every way in: each refusal of each edge feature is tried on every path an operation can
 * take — HTTP to a router with the fast path, HTTP to a router without it (the gateway), HTTP GET
 * (admitted inside Apollo Server), and a graphql-ws subscribe — and must come back the same: the same
 * code and reason, with the transport's own status.
 */
type Path = 'http (fast path on)' | 'http (gateway only)' | 'http GET' | 'graphql-ws';
const PATHS: Path[] = ['http (fast path on)', 'http (gateway only)', 'http GET', 'graphql-ws'];
/** Points a user may spend per minute in this suite (a query costs 1): well above what one row spends. */
const USER_BUDGET = 60;

interface Refusal {
  feature: string;
  what: string;
  query: string;
  token?: 'rider' | 'forged';
  code: string;
  reason?: string;
  httpStatus: number;
}

/** Nested through the schema (myTrips → rider → trips → …), so the document is valid and only its depth is wrong. */
const deep = (levels: number) => `{ me { ${'trips { edges { node { rider { '.repeat(levels / 4)}id${' } } } }'.repeat(levels / 4)} } }`;
const REFUSALS: Refusal[] = [
  { feature: 'authentication', what: 'a forged token', query: '{ me { id } }', token: 'forged', code: 'UNAUTHENTICATED', reason: 'TOKEN_INVALID', httpStatus: 401 },
  { feature: 'operation-limits', what: 'a query nested 20 deep', query: deep(20), code: 'BAD_USER_INPUT', reason: 'MAX_DEPTH', httpStatus: 400 },
  { feature: 'operation-limits', what: '40 aliases', query: `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: me { id }`).join(' ')} }`, code: 'BAD_USER_INPUT', reason: 'MAX_ALIASES', httpStatus: 400 },
  { feature: 'operation-limits', what: '25 root fields', query: `{ ${Array.from({ length: 25 }, (_, i) => `r${i}: me { id }`).join(' ')} }`, code: 'BAD_USER_INPUT', reason: 'MAX_ROOT_FIELDS', httpStatus: 400 },
  { feature: 'operation-limits', what: '60 directives', query: `{ me { id ${'@include(if: true) '.repeat(60)}} }`, code: 'BAD_USER_INPUT', reason: 'MAX_DIRECTIVES', httpStatus: 400 },
  { feature: 'operation-limits', what: '6,000 tokens', query: `{ me { id ${'id '.repeat(6_000)}} }`, code: 'BAD_USER_INPUT', reason: 'MAX_TOKENS', httpStatus: 400 },
  {
    feature: 'operation-limits',
    what: 'a cost over the rider budget',
    token: 'rider',
    query: `{ ${Array.from({ length: 12 }, (_, i) => `t${i}: myTrips(first: 100) { edges { node { id rider { id name } driver { id } payment { status } } } }`).join(' ')} }`,
    code: 'BAD_USER_INPUT',
    reason: 'MAX_COST',
    httpStatus: 400,
  },
];

describe('the edge pipeline on every way in', () => {
  let stack: Stack;
  let gatewayOnly: RunningRouter;
  let rider: TestUser;

  before(async () => {
    // Rate limits on (test stacks turn them off), with a user budget the other rows never reach.
    stack = await startStack({ subgraphs: ['accounts', 'drivers', 'trips', 'wallet'], env: { RATE_LIMITS: 'true', RATE_LIMIT_USER_PER_MINUTE: String(USER_BUDGET) } });
    gatewayOnly = await startRouter(loadConfig('router', stack.env), { passthrough: false, logger: createLogger(loadConfig('router', stack.env)) });
    rider = await stack.signUp('RIDER');
  });
  after(async () => {
    await gatewayOnly?.stop();
    await stack?.stop();
  });

  const tokenFor = (refusal: Pick<Refusal, 'token'>) => (refusal.token === 'rider' ? rider.accessToken : refusal.token === 'forged' ? `${rider.accessToken.slice(0, -6)}AAAAAA` : undefined);

  /** Sends the operation by `path`; answers the first error's code and reason and the HTTP status (or the close code on graphql-ws). */
  async function send(path: Path, query: string, token: string | undefined): Promise<{ status: number; code?: string; reason?: string; body?: any }> {
    if (path === 'graphql-ws') {
      const socket = await TestSocket.open(stack.routerUrl);
      socket.send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
      const ack = await socket.take((message) => message.type === 'connection_ack');
      if (!ack) return { status: (await socket.closed).code };
      socket.subscribe('op', query);
      const message = await socket.next('op');
      await socket.close();
      const errors = message.type === 'error' ? message.payload : message.payload.errors;
      return { status: 0, code: errors?.[0]?.extensions?.code, reason: errors?.[0]?.extensions?.reason, body: message.payload };
    }
    const url = path === 'http (gateway only)' ? gatewayOnly.url : stack.routerUrl;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'apollo-require-preflight': 'true' };
    if (token) headers.authorization = `Bearer ${token}`;
    const response =
      path === 'http GET' ? await fetch(`${url}?${new URLSearchParams({ query })}`, { headers }) : await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
    // Node refuses a request line past its header limit (16 KiB) with 431 before the router sees it.
    if (response.status === 431) return { status: 431 };
    const body = (await response.json()) as any;
    return { status: response.status, code: body.errors?.[0]?.extensions?.code, reason: body.errors?.[0]?.extensions?.reason, body };
  }

  for (const refusal of REFUSALS) {
    for (const path of PATHS) {
      it(`${refusal.feature} refuses ${refusal.what} on ${path}`, async () => {
        const token = tokenFor(refusal);
        const answer = await send(path, refusal.query, token);
        if (path === 'graphql-ws' && refusal.code === 'UNAUTHENTICATED') {
          assert.equal(answer.status, 4401, 'a bad credential ends the socket at connection_init');
          return;
        }
        if (path === 'http GET' && new URLSearchParams({ query: refusal.query }).toString().length > 16_000) {
          assert.equal(answer.status, 431, 'a GET this long never reaches the router');
          return;
        }
        assert.equal(answer.code, refusal.code, JSON.stringify(answer.body)?.slice(0, 300));
        assert.equal(answer.reason, refusal.reason);
        if (path !== 'graphql-ws') assert.equal(answer.status, refusal.httpStatus);
      });
    }
  }

  for (const path of PATHS) {
    it(`rate-limits refuses a user past their budget per minute on ${path} (RATE_LIMITED, Retry-After)`, async () => {
      const user = await stack.signUp('RIDER');
      let last: Awaited<ReturnType<typeof send>> | undefined;
      if (path === 'graphql-ws') {
        // One socket, many operations: the budget counts operations, not sockets.
        const socket = await TestSocket.connect(stack.routerUrl, user.accessToken);
        for (let i = 0; i <= USER_BUDGET; i++) {
          socket.subscribe(`op${i}`, '{ me { id } }');
          const message = await socket.next(`op${i}`);
          last = { status: 0, code: message.payload?.[0]?.extensions?.code, reason: message.payload?.[0]?.extensions?.reason };
        }
        await socket.close();
        assert.equal(last!.code, 'RATE_LIMITED');
        return;
      }
      const url = path === 'http (gateway only)' ? gatewayOnly.url : stack.routerUrl;
      for (let i = 0; i <= USER_BUDGET; i++) {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'apollo-require-preflight': 'true', authorization: `Bearer ${user.accessToken}` };
        const response: Response = path === 'http GET' ? await fetch(`${url}?${new URLSearchParams({ query: '{ me { id } }' })}`, { headers }) : await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query: '{ me { id } }' }) });
        const body = (await response.json()) as any;
        last = { status: response.status, code: body.errors?.[0]?.extensions?.code, body: { ...body, retryAfter: response.headers.get('retry-after'), remaining: response.headers.get('ratelimit-remaining') } };
        if (i < USER_BUDGET) assert.equal(response.status, 200, `operation ${i + 1} is within the budget`);
      }
      assert.deepEqual([last!.status, last!.code], [429, 'RATE_LIMITED']);
      assert.ok(Number(last!.body.retryAfter) >= 1, 'Retry-After says when to come back');
    });
  }

  for (const path of PATHS.filter((p) => p !== 'graphql-ws')) {
    it(`admits an app's operation on ${path} and reports its cost (development)`, async () => {
      const answer = await send(path, '{ me { id name } }', rider.accessToken);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.data, { me: { id: rider.id, name: rider.name } });
      assert.deepEqual(answer.body.extensions?.cost, { requested: 1, budget: 10_000 });
    });
  }
});

describe('the cap on a whole answer', () => {
  let stack: Stack;
  let rider: TestUser;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'wallet'] });
    rider = await stack.signUp('RIDER', `Rider ${'with a rather long name '.repeat(3)}`);
  });
  after(() => stack?.stop());

  it('refuses an answer merged from two subgraphs over ROUTER_MAX_RESPONSE_BYTES, though each part is under it', async () => {
    // Eight copies: the merged answer passes the smallest cap allowed (1 KiB), each subgraph's part stays under it.
    const query = `{ ${Array.from({ length: 8 }, (_, i) => `m${i}: me { id name phone role wallet { balance { amount currency } available { amount currency } pending { amount currency } } }`).join(' ')} }`;
    const whole = await stack.query(query, {}, { token: rider.accessToken });
    const size = Buffer.byteLength(JSON.stringify(whole.body));
    const capped = await startRouter(loadConfig('router', { ...stack.env, ROUTER_MAX_RESPONSE_BYTES: String(size - 1) }), { subscriptions: false, logger: createLogger(loadConfig('router', stack.env)) });
    try {
      const response = await fetch(capped.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${rider.accessToken}` }, body: JSON.stringify({ query }) });
      const body = (await response.json()) as any;
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.deepEqual([body.errors[0].extensions.code, body.errors[0].extensions.reason, body.errors[0].extensions.limit], ['BAD_USER_INPUT', 'RESPONSE_TOO_LARGE', size - 1]);
    } finally {
      await capped.stop();
    }
  });
});
