import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertErrorCode, dataOf, graphql } from '../support/client.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { forgedTokens } from '../support/tokens.ts';

const ME = `query Me { me { id name role phone } }`;

describe('authentication through the router', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
  });
  after(() => stack.stop());

  it('signs up, logs in and answers me with the same user', async () => {
    const rider = await stack.signUp('RIDER', 'Mona');
    const logIn = dataOf(await stack.query(`mutation { logIn(phone: "${rider.phone}", password: "${rider.password}") { accessToken expiresAt user { id } } }`));
    assert.equal(logIn.logIn.user.id, rider.id);
    const expiresInMs = new Date(logIn.logIn.expiresAt).getTime() - Date.now();
    assert.ok(expiresInMs > 14 * 60_000 && expiresInMs <= 15 * 60_000, `access token lives 15 minutes, got ${expiresInMs} ms`);
    const me = dataOf(await stack.query(ME, {}, { token: logIn.logIn.accessToken }));
    assert.deepEqual(me.me, { id: rider.id, name: 'Mona', role: 'RIDER', phone: rider.phone });
  });

  it('answers me with null for an anonymous caller', async () => {
    const result = await stack.query(`{ me { id } }`);
    assertErrorCode(result, 'UNAUTHENTICATED');
  });

  it('issues access tokens signed with ES256 and a kid that the JWKS publishes', async () => {
    const rider = await stack.signUp('RIDER');
    const header = JSON.parse(Buffer.from(rider.accessToken.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, 'ES256');
    const jwks = (await (await fetch(stack.env.JWKS_URL)).json()) as { keys: Array<Record<string, unknown> & { kid: string }> };
    assert.ok(jwks.keys.some((key: { kid: string }) => key.kid === header.kid));
    assert.ok(jwks.keys.every((key: Record<string, unknown>) => !('d' in key)), 'the JWKS never carries private key material');
  });

  it('rotates the refresh token on every use', async () => {
    const rider = await stack.signUp('RIDER');
    const first = dataOf(await stack.query(`mutation R($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { id } } }`, { t: rider.refreshToken }));
    assert.notEqual(first.refreshSession.refreshToken, rider.refreshToken);
    assert.equal(first.refreshSession.user.id, rider.id);
    const second = dataOf(await stack.query(`mutation R($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }`, { t: first.refreshSession.refreshToken }));
    assert.notEqual(second.refreshSession.refreshToken, first.refreshSession.refreshToken);
  });

  it('revokes the whole family when a rotated refresh token is reused', async () => {
    const rider = await stack.signUp('RIDER');
    const refresh = (token: string) => stack.query(`mutation R($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }`, { t: token });
    const rotated = dataOf(await refresh(rider.refreshToken)).refreshSession.refreshToken;
    const reuse = await refresh(rider.refreshToken);
    assertErrorCode(reuse, 'INVALID_REFRESH_TOKEN');
    assert.equal(reuse.body.errors![0].extensions!.reason, 'REFRESH_TOKEN_REUSED');
    assertErrorCode(await refresh(rotated), 'INVALID_REFRESH_TOKEN');
  });

  it('lets exactly one of two concurrent refreshes with the same token win', async () => {
    const rider = await stack.signUp('RIDER');
    const results = await Promise.all(
      Array.from({ length: 6 }, () => stack.query(`mutation R($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }`, { t: rider.refreshToken })),
    );
    const winners = results.filter((result) => result.body.data?.refreshSession);
    assert.equal(winners.length, 1, 'exactly one refresh wins the rotation');
    // The losers' attempts are reuse: the family is revoked, the winner's new token included.
    for (const winner of winners) {
      assertErrorCode(await stack.query(`mutation R($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }`, { t: winner.body.data.refreshSession.refreshToken }), 'INVALID_REFRESH_TOKEN');
    }
  });

  it('logs out by revoking the session', async () => {
    const rider = await stack.signUp('RIDER');
    assert.equal(dataOf(await stack.query(`mutation L($t: String!) { logOut(refreshToken: $t) }`, { t: rider.refreshToken })).logOut, true);
    assertErrorCode(await stack.query(`mutation R($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }`, { t: rider.refreshToken }), 'INVALID_REFRESH_TOKEN');
  });

  it('answers an unknown refresh token with INVALID_REFRESH_TOKEN', async () => {
    assertErrorCode(await stack.query(`mutation { refreshSession(refreshToken: "never-issued") { refreshToken } }`), 'INVALID_REFRESH_TOKEN');
  });

  it('echoes the caller request id', async () => {
    const result = await graphql(stack.routerUrl, `{ __typename }`, {}, { headers: { 'x-request-id': 'req-12345' } });
    assert.equal(result.headers.get('x-request-id'), 'req-12345');
  });
});

describe('forged and broken tokens', () => {
  let stack: Stack;
  let tokens: Awaited<ReturnType<typeof forgedTokens>>;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
    const victim = await stack.signUp('RIDER');
    tokens = await forgedTokens(stack, victim);
  });
  after(() => stack.stop());

  for (const kind of ['expired', 'wrongKey', 'algNone', 'tampered', 'hmacWithPublicKey', 'wrongAudience', 'garbage'] as const) {
    it(`rejects a ${kind} token at the router with 401 UNAUTHENTICATED`, async () => {
      const result = await stack.query(ME, {}, { token: tokens[kind] });
      assert.equal(result.status, 401);
      assertErrorCode(result, 'UNAUTHENTICATED');
      assert.equal(result.body.data, undefined);
    });

    it(`rejects a ${kind} token at a subgraph reached directly`, async () => {
      const result = await stack.querySubgraph('accounts', ME, {}, { token: tokens[kind] });
      assert.equal(result.status, 401);
      assertErrorCode(result, 'UNAUTHENTICATED');
    });
  }

  it('rejects a malformed Authorization header', async () => {
    const result = await graphql(stack.routerUrl, ME, {}, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(result.status, 401);
    assertErrorCode(result, 'UNAUTHENTICATED');
  });

  it('gives a subgraph reached without a token nothing but UNAUTHENTICATED', async () => {
    assertErrorCode(await stack.querySubgraph('accounts', ME), 'UNAUTHENTICATED');
  });
});
