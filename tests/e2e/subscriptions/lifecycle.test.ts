import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RunningRouter } from '../../../router/router.ts';
import { startTicksStack, type Account, type TicksStack } from '../../fixtures/ticks/stack.ts';
import { TestSocket } from './socket.ts';

const TICKS = `subscription($stream: String!) { ticks(stream: $stream) { n user { name } } }`;

describe('subscriptions across restarts and shutdowns', () => {
  let stack: TicksStack;
  let router: RunningRouter;
  let rider: Account;
  before(async () => {
    stack = await startTicksStack();
    router = await stack.startRouter({ subscriptions: { upstream: { retryDelayMs: 50, maxRetryDelayMs: 500 } } });
    rider = await stack.signUp(router.url, 'Rania Rider');
  });
  after(() => stack.stop());

  it('survives a subgraph restart: the client keeps its socket and receives the next event', async () => {
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('1', TICKS, { stream });
    await stack.subscribers.waitFor(stream, 1);
    await stack.publish(stream, 1, rider.id);
    assert.equal((await socket.next('1')).payload.data.ticks.n, 1);

    const opened = router.subscriptions!.stats().upstreamsOpened;
    await stack.restartTicks(); // the old process's sockets close with 1001; a new one listens on the same port
    await stack.subscribers.waitFor(stream, 1); // the router reconnected and subscribed again
    await stack.publish(stream, 2, rider.id);
    assert.deepEqual(await socket.next('1'), { id: '1', type: 'next', payload: { data: { ticks: { n: 2, user: { name: 'Rania Rider' } } } } });
    assert.equal(socket.isClosed, false);
    // Same upstream subscription, resubscribed by the transport: nothing was reopened from scratch.
    assert.equal(router.subscriptions!.stats().upstreamsOpened, opened);
    await socket.close();
  });

  it('follows supergraph reloads: new subscriptions see the new supergraph, running ones carry on', async () => {
    const file = stack.writeSupergraph('reloaded', true);
    const own = await stack.startRouter({}, file);
    const stream = randomUUID();
    const socket = await TestSocket.connect(own.url, rider.accessToken);
    socket.subscribe('before', TICKS, { stream });
    await stack.subscribers.waitFor(stream, 1);

    writeFileSync(file, readFileSync(stack.writeSupergraph('accounts-only', false)));
    own.reloadSupergraph();
    socket.subscribe('after', TICKS, { stream });
    const refused = await socket.next('after');
    assert.equal(refused.type, 'error');
    assert.equal(refused.payload[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');

    await stack.publish(stream, 1, rider.id);
    assert.deepEqual((await socket.next('before')).payload, { data: { ticks: { n: 1, user: { name: 'Rania Rider' } } } });
    await socket.close();
  });

  it('closes client sockets with 1001 when the router shuts down, then stops', async () => {
    const own = await stack.startRouter();
    const stream = randomUUID();
    const socket = await TestSocket.connect(own.url, rider.accessToken);
    socket.subscribe('1', TICKS, { stream });
    await stack.subscribers.waitFor(stream, 1);
    await own.stop();
    assert.deepEqual(await socket.closed, { code: 1001, reason: 'Router shutting down' });
    assert.equal(own.http.phase(), 'stopped');
    // Its upstream subscription went with it.
    await stack.subscribers.waitFor(stream, 0);
    await assert.rejects(TestSocket.open(own.url));
  });

  it('closes client sockets with 1012 when the router restarts', async () => {
    const own = await stack.startRouter();
    const socket = await TestSocket.connect(own.url, rider.accessToken);
    await own.stop({ restart: true });
    assert.deepEqual(await socket.closed, { code: 1012, reason: 'Router restarting' });
  });

  it('answers new sockets 503 while it drains', async () => {
    const own = await stack.startRouter({ subscriptions: { closeTimeoutMs: 1_000 } });
    const lingering = await TestSocket.connect(own.url, rider.accessToken);
    lingering.pause(); // it will not answer the close handshake, so draining waits for it (up to closeTimeoutMs)
    const stopping = own.stop();
    await assert.rejects(TestSocket.open(own.url), /Unexpected server response: 503/);
    lingering.resume();
    assert.equal((await lingering.closed).code, 1001);
    await stopping;
  });
});
