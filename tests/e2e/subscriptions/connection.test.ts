import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createLogger } from '../../../platform/logger.ts';
import type { RunningRouter } from '../../../router/router.ts';
import { loadSigningKey } from '../../../subgraphs/accounts/signing-key.ts';
import { startTicksStack, type Account, type TicksStack } from '../../fixtures/ticks/stack.ts';
import { TestSocket } from './socket.ts';

describe('a subscription socket on the router', () => {
  let stack: TicksStack;
  let router: RunningRouter;
  let rider: Account;
  before(async () => {
    stack = await startTicksStack();
    router = await stack.startRouter();
    rider = await stack.signUp(router.url);
  });
  after(() => stack.stop());

  it('is acknowledged when connection_init carries a valid token', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    assert.equal(socket.isClosed, false);
    await socket.close();
  });

  it('acknowledges connection_init without a token, as HTTP takes anonymous callers, and leaves the subgraph to refuse what needs a user', async () => {
    const socket = await TestSocket.open(router.url);
    socket.send({ type: 'connection_init', payload: {} });
    assert.ok(await socket.take((message) => message.type === 'connection_ack'), 'acknowledged');
    const stream = `anonymous-${randomUUID()}`;
    socket.subscribe('anon', 'subscription($s: String!) { ticks(stream: $s) { n } }', { s: stream });
    await stack.subscribers.waitFor(stream, 1);
    const tick = await fetch(router.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${rider.accessToken}` }, body: JSON.stringify({ query: 'mutation($s: String!, $u: ID!) { tick(stream: $s, n: 1, userId: $u) }', variables: { s: stream, u: rider.id } }) });
    assert.equal(tick.status, 200);
    // The ticks subgraph's rule (isAuthenticated) refuses the anonymous subscriber its event.
    const refused = await socket.next('anon');
    const errors = refused.type === 'error' ? refused.payload : refused.payload.errors;
    assert.equal(errors[0].extensions.code, 'UNAUTHENTICATED');
    await socket.close();
  });

  it('closes with 4401 when connection_init carries an invalid token', async () => {
    const socket = await TestSocket.open(router.url);
    socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${rider.accessToken.slice(0, -4)}AAAA` } });
    assert.deepEqual(await socket.closed, { code: 4401, reason: 'Unauthorized' });
  });

  it('closes with 4401 when its token expires', async () => {
    const config = stack.accounts.config('accounts');
    const key = await loadSigningKey(config, createLogger(config));
    const exp = Math.floor(Date.now() / 1000) + 2;
    const shortLived = await new SignJWT({ role: 'RIDER' }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setSubject(rider.id).setIssuer(config.jwt.issuer).setAudience(config.jwt.audience).setIssuedAt().setExpirationTime(exp).sign(key.privateKey);
    const socket = await TestSocket.connect(router.url, shortLived);
    assert.deepEqual(await socket.closed, { code: 4401, reason: 'Token expired' });
    assert.ok(Date.now() >= exp * 1000 - 50, 'not before the token expired');
  });

  it('closes with 4401 when a subscribe comes before connection_ack', async () => {
    const socket = await TestSocket.open(router.url);
    socket.subscribe('1', 'subscription { ticks(stream: "s") { n } }');
    assert.equal((await socket.closed).code, 4401);
  });

  it('closes with 4400 on a binary frame', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.socket.send(Buffer.from('{"type":"ping"}'), { binary: true });
    assert.deepEqual(await socket.closed, { code: 4400, reason: 'Binary frames are not accepted' });
  });

  it('closes with 4400 on a frame that is not a graphql-ws message', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.send('{"type":"subscribe","id":"1"}');
    assert.deepEqual(await socket.closed, { code: 4400, reason: 'Invalid message received' });
  });

  it('closes with 4400 on a message only a server may send', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.send({ id: '1', type: 'next', payload: { data: {} } });
    assert.deepEqual(await socket.closed, { code: 4400, reason: 'Unexpected message of type next' });
  });

  it('closes with 4406 when the client offers no graphql-transport-ws subprotocol', async () => {
    const socket = await TestSocket.open(router.url, null);
    assert.equal((await socket.closed).code, 4406);
  });

  it('answers a query sent over the socket with a BAD_REQUEST error, keeping the socket open', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('q', '{ me { id } }');
    const message = await socket.next('q');
    assert.equal(message.type, 'error');
    assert.equal(message.payload[0].extensions.code, 'BAD_REQUEST');
    assert.equal(socket.isClosed, false);
    await socket.close();
  });

  it('answers an invalid subscription with GRAPHQL_VALIDATION_FAILED', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('v', 'subscription { ticks(stream: "s") { nope } }');
    const message = await socket.next('v');
    assert.equal(message.type, 'error');
    assert.equal(message.payload[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    await socket.close();
  });

  it('refuses a subscription past the per-socket limit with RATE_LIMITED, keeping the others', async () => {
    const limited = await stack.startRouter({ subscriptions: { maxSubscriptionsPerSocket: 2 } });
    const stream = randomUUID();
    const socket = await TestSocket.connect(limited.url, rider.accessToken);
    for (const id of ['1', '2', '3']) socket.subscribe(id, 'subscription($s: String!) { ticks(stream: $s) { n } }', { s: stream });
    const refused = await socket.next('3');
    assert.equal(refused.type, 'error');
    assert.equal(refused.payload[0].extensions.code, 'RATE_LIMITED');
    await stack.subscribers.waitFor(stream, 1); // the first two share one upstream subscription
    await stack.publish(stream, 1, rider.id);
    assert.equal((await socket.next('1')).type, 'next');
    assert.equal((await socket.next('2')).type, 'next');
    await socket.close();
  });

  it('answers variables of the wrong type with BAD_USER_INPUT', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('b', 'subscription($s: String!) { ticks(stream: $s) { n } }', { s: 42 });
    const message = await socket.next('b');
    assert.equal(message.type, 'error');
    assert.equal(message.payload[0].extensions.code, 'BAD_USER_INPUT');
    await socket.close();
  });
});
