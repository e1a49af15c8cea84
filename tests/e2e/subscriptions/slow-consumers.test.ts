import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningRouter } from '../../../router/router.ts';
import { startTicksStack, type Account, type TicksStack } from '../../fixtures/ticks/stack.ts';
import { TestSocket, type ServerMessage } from './socket.ts';

/** Large events fill the socket buffers between router and a client that stopped reading. */
const PADDING_BYTES = 64 * 1024;
/** An upper bound on the events it may take to back the router up to its queue limit. */
const MAX_EVENTS = 4_000;

describe('slow consumers', () => {
  let stack: TicksStack;
  let router: RunningRouter;
  let rider: Account;
  before(async () => {
    stack = await startTicksStack();
    // A tiny queue, and `positions` declared lossy like driver locations; `ticks` keeps the default: never drop.
    router = await stack.startRouter({ subscriptions: { queues: { all: { limit: 4 }, fields: { positions: { overflow: 'drop-oldest' } } } } });
    rider = await stack.signUp(router.url);
  });
  after(() => stack.stop());

  /** Publishes one event at a time (each resolved by the router before the next) until `done` holds. */
  async function publishUntil(stream: string, done: () => boolean): Promise<number> {
    for (let n = 1; n <= MAX_EVENTS; n += 1) {
      const resolved = router.subscriptions!.stats().eventsResolved;
      await stack.publish(stream, n, rider.id, PADDING_BYTES);
      await router.subscriptions!.waitFor((stats) => stats.eventsResolved > resolved);
      if (done()) return n;
    }
    throw new Error(`the router never backed up after ${MAX_EVENTS} events`);
  }

  async function drain(socket: TestSocket, id: string, until: (message: ServerMessage) => boolean): Promise<ServerMessage[]> {
    const messages: ServerMessage[] = [];
    for (;;) {
      const message = await socket.next(id);
      messages.push(message);
      if (until(message)) return messages;
    }
  }

  it('drops the oldest events of a location stream, and the client still sees the newest', async () => {
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('p', `subscription($s: String!) { positions(stream: $s) { n padding } }`, { s: stream });
    await stack.subscribers.waitFor(stream, 1);
    socket.pause();
    const droppedBefore = router.subscriptions!.stats().dropped;
    const published = await publishUntil(stream, () => router.subscriptions!.stats().dropped >= droppedBefore + 3);

    socket.resume();
    const received = (await drain(socket, 'p', (message) => message.payload?.data?.positions.n === published)).map((message) => {
      assert.equal(message.type, 'next');
      return message.payload.data.positions.n as number;
    });
    assert.equal(received.at(-1), published, 'the newest event arrives');
    assert.ok(received.length < published, `some events were dropped (${received.length} of ${published} arrived)`);
    assert.deepEqual(received, [...received].sort((a, b) => a - b), 'what arrives arrives in order');
    assert.equal(socket.isClosed, false);
    await socket.close();
  });

  it('ends a lossless stream that overflows with an error the client sees, never dropping silently', async () => {
    const stream = randomUUID();
    const socket = await TestSocket.connect(router.url, rider.accessToken);
    socket.subscribe('t', `subscription($s: String!) { ticks(stream: $s) { n padding } }`, { s: stream });
    await stack.subscribers.waitFor(stream, 1);
    socket.pause();
    const overflowsBefore = router.subscriptions!.stats().overflows;
    const droppedBefore = router.subscriptions!.stats().dropped;
    await publishUntil(stream, () => router.subscriptions!.stats().overflows > overflowsBefore);
    // The router let go of the upstream subscription at once, without waiting for the client.
    await stack.subscribers.waitFor(stream, 0);

    socket.resume();
    const messages = await drain(socket, 't', (message) => message.type !== 'next');
    const ending = messages.pop()!;
    assert.equal(ending.type, 'error');
    assert.equal(ending.payload[0].extensions.code, 'RATE_LIMITED');
    assert.equal(ending.payload[0].extensions.reason, 'SLOW_CONSUMER');
    const received = messages.map((message) => message.payload.data.ticks.n as number);
    assert.deepEqual(received, received.map((_, index) => index + 1), 'every event before the error arrived, none skipped');
    assert.equal(router.subscriptions!.stats().dropped, droppedBefore);
    assert.equal(socket.isClosed, false);
    await socket.close();
  });
});
