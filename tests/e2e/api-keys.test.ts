/**
 * Partners' API keys through a running router (accounts behind it), on every way in: HTTP POST with
 * `x-api-key` and with `Authorization: ApiKey`, GET (admitted inside Apollo Server), graphql-ws
 * connectionParams; refusals with one message; the key's budget. Runs once router/router.ts lists
 * apiKeysFeature (and router/subscriptions/ws.ts reads keys from connectionParams).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { API_KEY_REFUSAL_MESSAGE } from '../../router/edge/features/api-keys.ts';
import { dataOf } from '../support/client.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';
import { TestSocket } from './subscriptions/socket.ts';

const wired = readFileSync(new URL('../../router/router.ts', import.meta.url), 'utf8').includes('apiKeysFeature(');
const ME = '{ me { id } }';

describe('API keys through the router', { skip: wired ? false : 'router/router.ts does not list apiKeysFeature yet' }, () => {
  let stack: Stack;
  let admin: TestUser;
  let partnerId: string;

  const newKey = async (requestsPerMinute = 600): Promise<string> =>
    dataOf(await stack.query(`mutation($p: ID!, $i: CreateApiKeyInput!) { createApiKey(partnerId: $p, input: $i) { key } }`, { p: partnerId, i: { name: 'e2e', requestsPerMinute } }, { token: admin.accessToken })).createApiKey.key;
  const post = async (query: string, headers: Record<string, string>) => {
    const response = await fetch(stack.routerUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  const get = async (query: string, headers: Record<string, string>) => {
    const response = await fetch(`${stack.routerUrl}?${new URLSearchParams({ query })}`, { headers: { 'apollo-require-preflight': 'true', ...headers } });
    return { status: response.status, body: (await response.json()) as any };
  };

  before(async () => {
    // Keys, not safelisting: partners' free text is allowed here (tests/e2e/persisted-operations.test.ts covers the rest).
    stack = await startStack({ subgraphs: ['accounts'], env: { RATE_LIMITS: 'true', PERSISTED_OPERATIONS: 'off' } });
    admin = await stack.admin();
    partnerId = dataOf(await stack.query(`mutation { createPartner(input: { name: "E2E Partner" }) { id } }`, {}, { token: admin.accessToken })).createPartner.id;
  });
  after(() => stack?.stop());

  it('makes a key the PARTNER principal on POST (x-api-key and Authorization: ApiKey) and GET', async () => {
    const key = await newKey();
    // `me` is for a signed-in caller: a partner organisation is no user (null), anonymous is refused.
    assert.equal((await post(ME, {})).body.errors[0].extensions.code, 'UNAUTHENTICATED');
    for (const headers of [{ 'x-api-key': key }, { authorization: `ApiKey ${key}` }] as Record<string, string>[]) {
      for (const send of [post, get]) {
        const answer = await send(ME, headers);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.body.data, { me: null });
        assert.equal(answer.body.errors, undefined);
      }
      // Signed in, not an admin.
      assert.equal((await post('{ partners { id } }', headers)).body.errors[0].extensions.code, 'FORBIDDEN');
    }
  });

  it('refuses a bad key with 401 and one message, on POST and GET', async () => {
    const key = await newKey();
    for (const bad of [`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`, 'slk_nope', `slk_${'0'.repeat(12)}_${'A'.repeat(43)}`]) {
      for (const headers of [{ 'x-api-key': bad }, { authorization: `ApiKey ${bad}` }] as Record<string, string>[]) {
        for (const send of [post, get]) {
          const answer = await send(ME, headers);
          assert.equal(answer.status, 401);
          assert.equal(answer.body.errors[0].message, API_KEY_REFUSAL_MESSAGE);
          assert.equal(answer.body.errors[0].extensions.code, 'UNAUTHENTICATED');
        }
      }
    }
  });

  it('accepts a key in graphql-ws connectionParams and closes with 4401 for a bad one', async () => {
    const key = await newKey();
    for (const payload of [{ 'x-api-key': key }, { authorization: `ApiKey ${key}` }]) {
      const socket = await TestSocket.open(stack.routerUrl);
      socket.send({ type: 'connection_init', payload });
      assert.ok(await socket.take((message) => message.type === 'connection_ack'), JSON.stringify(payload));
      await socket.close();
    }
    for (const payload of [{ 'x-api-key': 'slk_nope' }, { authorization: 'ApiKey slk_nope' }]) {
      const socket = await TestSocket.open(stack.routerUrl);
      socket.send({ type: 'connection_init', payload });
      assert.equal(await socket.take((message) => message.type === 'connection_ack'), undefined);
      assert.equal((await socket.closed).code, 4401);
    }
  });

  it("charges a partner's operations to its key's budget", async () => {
    const key = await newKey(3);
    for (let i = 0; i < 3; i++) assert.equal((await post(ME, { 'x-api-key': key })).status, 200);
    const over = await post(ME, { 'x-api-key': key });
    assert.equal(over.status, 429);
    assert.equal(over.body.errors[0].extensions.code, 'RATE_LIMITED');
    assert.equal(over.headers.get('ratelimit-limit'), '3');
    // Another key of the same partner has its own budget.
    assert.equal((await post(ME, { 'x-api-key': await newKey(3) })).status, 200);
  });
});
