import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { RunningRouter } from '../../../router/router.ts';
import { dataOf, graphql } from '../../support/client.ts';
import { startTicksStack, type Account, type TicksStack } from '../../fixtures/ticks/stack.ts';
import { TestSocket } from './socket.ts';

const TICKS = `subscription Ticks($stream: String!) { ticks(stream: $stream) { n user { name } } }`;

describe('subscription events through the router', () => {
  let stack: TicksStack;
  let router: RunningRouter;
  let rider: Account;
  let other: Account;
  before(async () => {
    stack = await startTicksStack();
    router = await stack.startRouter();
    rider = await stack.signUp(router.url, 'Rania Rider');
    other = await stack.signUp(router.url, 'Omar Other');
  });
  after(() => stack.stop());

  it('carries fields owned by another subgraph in every event', async () => {
    const stream = randomUUID();
    const client = createClient({ url: router.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${rider.accessToken}` }, retryAttempts: 0 });
    const events = client.iterate({ query: TICKS, variables: { stream } });
    try {
      const first = events.next();
      await stack.subscribers.waitFor(stream, 1);
      // Published through the router, as an app's mutation would be; `name` lives in accounts, `n` in the ticks subgraph.
      const tick = (n: number) => graphql(router.url, `mutation($s: String!, $n: Int!, $u: ID!) { tick(stream: $s, n: $n, userId: $u) }`, { s: stream, n, u: other.id }, { token: rider.accessToken });
      assert.equal(dataOf(await tick(1)).tick, true);
      assert.deepEqual((await first).value, { data: { ticks: { n: 1, user: { name: 'Omar Other' } } } });
      dataOf(await tick(2));
      assert.deepEqual((await events.next()).value, { data: { ticks: { n: 2, user: { name: 'Omar Other' } } } });
    } finally {
      await events.return?.();
      await client.dispose();
    }
  });

  it('shapes each event as a query would: aliases, __typename, no key fields the client did not ask for', async () => {
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('a', `subscription($s: String!) { tick: ticks(stream: $s) { __typename count: n who: user { __typename displayName: name } } }`, { s: stream });
    await stack.subscribers.waitFor(stream, 1);
    await stack.publish(stream, 7, rider.id);
    const message = await socket.next('a');
    assert.deepEqual(message, { id: 'a', type: 'next', payload: { data: { tick: { __typename: 'Tick', count: 7, who: { __typename: 'User', displayName: 'Rania Rider' } } } } });
    await socket.close();
  });

  it('hands on an event the owning subgraph resolved whole as it came, the same result the plan gives', async () => {
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('direct', `subscription($s: String!) { ticks(stream: $s) { n } }`, { s: stream });
    socket.subscribe('planned', `subscription($s: String!) { ticks(stream: $s) { ...Count } } fragment Count on Tick { n }`, { s: stream });
    await stack.subscribers.waitFor(stream, 2);
    const before = router.subscriptions!.stats();
    await stack.publish(stream, 9, rider.id);
    assert.deepEqual(await socket.next('direct'), { id: 'direct', type: 'next', payload: { data: { ticks: { n: 9 } } } });
    assert.deepEqual(await socket.next('planned'), { id: 'planned', type: 'next', payload: { data: { ticks: { n: 9 } } } });
    const after = router.subscriptions!.stats();
    assert.deepEqual([after.eventsResolved - before.eventsResolved, after.eventsDirect - before.eventsDirect], [2, 1], 'one of the two through the plan');
    await socket.close();
  });

  it('ends a subscription the owning subgraph forbids with a FORBIDDEN error', async () => {
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('f', `subscription { adminTicks(stream: "secret") { n } }`);
    const message = await socket.next('f');
    assert.equal(message.type, 'error');
    assert.deepEqual(message.payload.map((error: { extensions: { code: string } }) => error.extensions.code), ['FORBIDDEN']);
    // The operation is over; the socket is not.
    assert.equal(socket.isClosed, false);
    await socket.close();
  });

  it('ends a subscription with FORBIDDEN when the owning subgraph denies an event', async () => {
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('m', `subscription($s: String!) { myTicks(stream: $s) { n } }`, { s: stream });
    await stack.subscribers.waitFor(stream, 1);
    await stack.publish(stream, 1, rider.id);
    assert.deepEqual(await socket.next('m'), { id: 'm', type: 'next', payload: { data: { myTicks: { n: 1 } } } });
    await stack.publish(stream, 2, other.id);
    const denied = await socket.next('m');
    assert.equal(denied.type, 'error');
    assert.deepEqual(denied.payload.map((error: { extensions: { code: string } }) => error.extensions.code), ['FORBIDDEN']);
    // The router let go of the upstream subscription too.
    await stack.subscribers.waitFor(stream, 0);
    await socket.close();
  });

  it('lets the principal the rule allows follow the same stream', async () => {
    const admin = await stack.admin(router.url);
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, admin.accessToken);
    socket.subscribe('f', `subscription($s: String!) { adminTicks(stream: $s) { n } }`, { s: stream });
    await stack.subscribers.waitFor(stream, 1);
    await stack.publish(stream, 1, admin.id);
    assert.deepEqual(await socket.next('f'), { id: 'f', type: 'next', payload: { data: { adminTicks: { n: 1 } } } });
    await socket.close();
  });

  it('shares one upstream subscription between identical subscriptions of one principal', async () => {
    const stream = randomUUID();
    const before = router.subscriptions!.stats();
    const phone = await TestSocket.connect(router.url, rider.accessToken);
    const tablet = await TestSocket.connect(router.url, rider.accessToken);
    phone.subscribe('1', TICKS, { stream });
    // Same document and variables, written differently: same group.
    tablet.subscribe('1', `subscription Ticks($stream: String!) {\n  ticks(stream: $stream) {\n    n\n    user { name }\n  }\n}`, { stream });
    await router.subscriptions!.waitFor((stats) => stats.subscribers === before.subscribers + 2);
    await stack.subscribers.waitFor(stream, 1);
    assert.equal(router.subscriptions!.stats().upstreamsOpened, before.upstreamsOpened + 1);
    assert.equal(stack.subscribers.count(stream), 1);

    await stack.publish(stream, 1, other.id);
    const expected = { data: { ticks: { n: 1, user: { name: 'Omar Other' } } } };
    assert.deepEqual((await phone.next('1')).payload, expected);
    assert.deepEqual((await tablet.next('1')).payload, expected);
    // One event, one rest-of-plan execution for both clients.
    assert.equal(router.subscriptions!.stats().eventsResolved, before.eventsResolved + 1);

    // The group outlives a member that leaves, and closes upstream with the last one.
    phone.complete('1');
    await router.subscriptions!.waitFor((stats) => stats.subscribers === before.subscribers + 1);
    assert.equal(stack.subscribers.count(stream), 1);
    await stack.publish(stream, 2, other.id);
    assert.equal((await tablet.next('1')).payload.data.ticks.n, 2);
    tablet.complete('1');
    await stack.subscribers.waitFor(stream, 0);
    assert.equal(router.subscriptions!.stats().upstreams, before.upstreams);
    await Promise.all([phone.close(), tablet.close()]);
  });

  it('hands a subscriber joining a running group the group\'s latest result first, then what follows', async () => {
    const stream = randomUUID();
    const before = router.subscriptions!.stats();
    const phone = await TestSocket.connect(router.url, rider.accessToken);
    phone.subscribe('1', TICKS, { stream });
    await stack.subscribers.waitFor(stream, 1);
    await stack.publish(stream, 1, other.id);
    await stack.publish(stream, 2, other.id);
    assert.equal((await phone.next('1')).payload.data.ticks.n, 1);
    assert.equal((await phone.next('1')).payload.data.ticks.n, 2);

    // A second device joins the group: the upstream sent its events once, so the joiner gets the newest.
    const tablet = await TestSocket.connect(router.url, rider.accessToken);
    tablet.subscribe('1', TICKS, { stream });
    assert.deepEqual((await tablet.next('1')).payload, { data: { ticks: { n: 2, user: { name: 'Omar Other' } } } });
    assert.equal(router.subscriptions!.stats().upstreamsOpened, before.upstreamsOpened + 1, 'still one upstream');
    await stack.publish(stream, 3, other.id);
    assert.equal((await tablet.next('1')).payload.data.ticks.n, 3);
    assert.equal((await phone.next('1')).payload.data.ticks.n, 3);
    await Promise.all([phone.close(), tablet.close()]);
    await stack.subscribers.waitFor(stream, 0);
  });

  it('gives every subscriber of a field joined `alone` its own upstream subscription', async () => {
    const alone = await stack.startRouter({ subscriptions: { joins: { ticks: 'alone' } } });
    const stream = randomUUID();
    const before = alone.subscriptions!.stats();
    const [phone, tablet] = await Promise.all([TestSocket.connect(alone.url, rider.accessToken), TestSocket.connect(alone.url, rider.accessToken)]);
    phone.subscribe('1', TICKS, { stream });
    tablet.subscribe('1', TICKS, { stream });
    await stack.subscribers.waitFor(stream, 2);
    assert.equal(alone.subscriptions!.stats().upstreamsOpened, before.upstreamsOpened + 2);
    await stack.publish(stream, 1, other.id);
    assert.equal((await phone.next('1')).payload.data.ticks.n, 1);
    assert.equal((await tablet.next('1')).payload.data.ticks.n, 1);
    await Promise.all([phone.close(), tablet.close()]);
    await stack.subscribers.waitFor(stream, 0);
  });

  it('bounds each event\'s entity fetches as a query\'s: past the deadline the event says DEADLINE_EXCEEDED, and the stream goes on', async () => {
    // A deadline already passed when each event arrives: no entity fetch is even sent.
    const bounded = await stack.startRouter({ subscriptions: { eventBounds: { timeoutMs: 0 } } });
    const stream = randomUUID();
    const socket = await TestSocket.connect(bounded.url, rider.accessToken);
    socket.subscribe('planned', TICKS, { stream });
    socket.subscribe('direct', `subscription($s: String!) { ticks(stream: $s) { n } }`, { s: stream });
    await stack.subscribers.waitFor(stream, 2);
    await stack.publish(stream, 1, other.id);
    const planned = await socket.next('planned');
    assert.equal(planned.type, 'next');
    assert.deepEqual(planned.payload.errors.map((error: any) => [error.extensions.code, error.extensions.reason]), [['SERVICE_UNAVAILABLE', 'DEADLINE_EXCEEDED']]);
    // Resolved whole by the owner, the other needs no fetch: nothing to bound.
    assert.deepEqual((await socket.next('direct')).payload, { data: { ticks: { n: 1 } } });
    await stack.publish(stream, 2, other.id);
    assert.equal((await socket.next('planned')).type, 'next', 'the stream goes on');
    await socket.close();
  });

  it('gives different principals upstream subscriptions of their own', async () => {
    const stream = randomUUID();
    const before = router.subscriptions!.stats();
    const mine = await TestSocket.connect(router.url, rider.accessToken);
    const theirs = await TestSocket.connect(router.url, other.accessToken);
    mine.subscribe('1', TICKS, { stream });
    theirs.subscribe('1', TICKS, { stream });
    await stack.subscribers.waitFor(stream, 2);
    assert.equal(router.subscriptions!.stats().upstreamsOpened, before.upstreamsOpened + 2);
    await stack.publish(stream, 1, rider.id);
    assert.equal((await mine.next('1')).payload.data.ticks.user.name, 'Rania Rider');
    assert.equal((await theirs.next('1')).payload.data.ticks.user.name, 'Rania Rider');
    await Promise.all([mine.close(), theirs.close()]);
    await stack.subscribers.waitFor(stream, 0);
  });
});
