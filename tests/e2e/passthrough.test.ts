import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../platform/config.ts';
import { MAX_REMEMBERED_QUERY_CHARS } from '../../platform/graphql-request.ts';
import { createLogger } from '../../platform/logger.ts';
import { startRouter, type RunningRouter } from '../../router/router.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

interface RawAnswer {
  status: number;
  contentType: string | null;
  requestId: string | null;
  body: string;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'passthrough-test', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, contentType: response.headers.get('content-type'), requestId: response.headers.get('x-request-id'), body: await response.text() };
}

const ME = `query Me { me { id name role } }`;
const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { user { id } } }`;
const LOG_IN = `mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }`;

describe('the passthrough fast path', () => {
  let stack: Stack;
  let gatewayOnly: RunningRouter;
  let rider: TestUser;
  const fast = () => stack.router!.passthrough!;

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'drivers'] });
    gatewayOnly = await startRouter(loadConfig('router', stack.env), { passthrough: false, subscriptions: false, logger: createLogger(loadConfig('router', stack.env)) });
    rider = await stack.signUp('RIDER');
  });
  after(async () => {
    await gatewayOnly?.stop();
    await stack?.stop();
  });

  /** Sends the same request to the router with the fast path and to one without; returns both answers. */
  async function both(body: unknown, headers?: Record<string, string>) {
    const before = { ...fast() };
    const viaFastPath = await post(stack.routerUrl, body, headers);
    const viaGateway = await post(gatewayOnly.url, body, headers);
    const after = fast();
    return { viaFastPath, viaGateway, delta: { forwarded: after.forwarded - before.forwarded, replayed: after.replayed - before.replayed, declined: after.declined - before.declined } };
  }

  it('answers a one-subgraph query on the fast path with the very bytes the gateway produces', async () => {
    const { viaFastPath, viaGateway, delta } = await both({ query: ME, operationName: 'Me' }, { authorization: `Bearer ${rider.accessToken}` });
    assert.deepEqual(delta, { forwarded: 1, replayed: 0, declined: 0 });
    assert.equal(viaFastPath.status, 200);
    assert.deepEqual(viaFastPath, viaGateway);
    // Outside production the edge reports the operation's cost, on the fast path as through the gateway.
    assert.deepEqual(JSON.parse(viaFastPath.body), { data: { me: { id: rider.id, name: rider.name, role: 'RIDER' } }, extensions: { cost: { requested: 1, budget: 10_000 } } });
  });

  it('forwards only the variables the subgraph operation uses, and still answers like the gateway', async () => {
    const phone = `+2012${String(process.pid % 10_000).padStart(4, '0')}0001`;
    const { viaFastPath, delta } = await both({ query: LOG_IN, variables: { phone, password: 'no-such-password', unused: 1 } });
    assert.equal(delta.forwarded + delta.replayed, 1, 'the operation qualified for the fast path');
    assert.equal(JSON.parse(viaFastPath.body).errors[0].extensions.code, 'INVALID_CREDENTIALS');
  });

  it('shapes a subgraph error through the gateway from the answer it already has, running the mutation once', async () => {
    const input = { phone: rider.phone, password: 'another-password-1', name: 'Twice', role: 'RIDER' };
    stack.resetStatementCount();
    const viaFastPath = await post(stack.routerUrl, { query: SIGN_UP, variables: { input } });
    const fastPathStatements = stack.statementCount();
    stack.resetStatementCount();
    const viaGateway = await post(gatewayOnly.url, { query: SIGN_UP, variables: { input } });
    const gatewayStatements = stack.statementCount();

    assert.deepEqual(viaFastPath, viaGateway);
    assert.equal(JSON.parse(viaFastPath.body).errors[0].extensions.code, 'CONFLICT');
    assert.equal(fastPathStatements, gatewayStatements, 'the subgraph ran the mutation once, not again for the replay');
    assert.ok(fast().replayed >= 1);
  });

  it('leaves invalid tokens, uncoercible variables and unknown fields to Apollo Server, with the same answers', async () => {
    const cases = [
      { body: { query: ME }, headers: { authorization: 'Bearer not.a.token' } },
      { body: { query: LOG_IN, variables: { phone: 42, password: true } } },
      { body: { query: `{ me { id nope } }` } },
      { body: { query: `{ me { id ` } },
    ];
    for (const { body, headers } of cases) {
      const { viaFastPath, viaGateway, delta } = await both(body, headers);
      assert.equal(delta.forwarded + delta.replayed, 0, `${JSON.stringify(body)} stays off the fast path`);
      assert.deepEqual(viaFastPath, viaGateway);
      assert.ok(JSON.parse(viaFastPath.body).errors.length > 0);
    }
  });

  it('never sends introspection, fragments or operations spanning subgraphs down the fast path', async () => {
    const auth = { authorization: `Bearer ${rider.accessToken}` };
    for (const query of [
      `{ __schema { queryType { name } } }`,
      `query { me { ...Who } } fragment Who on User { id name }`,
      `{ me { id name driverProfile { id } } }`,
    ]) {
      const { viaFastPath, viaGateway, delta } = await both({ query }, auth);
      assert.deepEqual(delta, { forwarded: 0, replayed: 0, declined: 1 }, query);
      assert.deepEqual(viaFastPath, viaGateway, query);
      assert.ok(JSON.parse(viaFastPath.body).data, query);
    }
  });

  it('leaves a document longer than any of ours to Apollo Server (each text would be a cache key)', async () => {
    const query = `{ me { id ${'name '.repeat(MAX_REMEMBERED_QUERY_CHARS / 5)}} }`;
    const { viaFastPath, viaGateway, delta } = await both({ query }, { authorization: `Bearer ${rider.accessToken}` });
    // Declined by the fast path, or already by the edge (graphql-js's validation gives up on it): never forwarded.
    assert.deepEqual([delta.forwarded, delta.replayed], [0, 0]);
    assert.deepEqual(viaFastPath, viaGateway);
  });

  it('answers a subgraph that is down as the gateway does', async () => {
    const router = await startRouter(loadConfig('router', { ...stack.env, DRIVERS_URL: 'http://127.0.0.1:9/graphql' }), { subscriptions: false, logger: createLogger(loadConfig('router', stack.env)) });
    try {
      const query = `{ nearbyDrivers(near: { lat: 30.04, lng: 31.23 }, radiusM: 1000) { driver { id } } }`;
      const answer = await post(router.url, { query }, { authorization: `Bearer ${rider.accessToken}` });
      assert.equal(router.passthrough!.replayed, 1);
      assert.equal(answer.status, 200);
      const body = JSON.parse(answer.body);
      assert.equal(body.data, null);
      assert.ok(body.errors.length > 0);
    } finally {
      await router.stop();
    }
  });
});
