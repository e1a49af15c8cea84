/**
 * Pub/sub across a Redis loss, on a redis-server of the test's own (killed and started again; the
 * shared one is never touched): what was published while it was gone is lost, and each stream that
 * can resynchronise is asked for its state once the channel is subscribed again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisPubSub } from '../../platform/pubsub.ts';
import { ownRedisUnavailable, startOwnRedis, type OwnRedis } from '../support/redis-server.ts';

const unavailable = ownRedisUnavailable();
if (unavailable) console.log(`# skipped: pub/sub across a Redis loss ${unavailable}`);

describe('Redis pub/sub across a Redis loss', { skip: unavailable }, () => {
  let own: OwnRedis;
  let redis: Redis;
  let pubsub: RedisPubSub;
  before(async () => {
    own = await startOwnRedis();
    // Reconnects quickly and forever, as services' clients do.
    redis = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    redis.on('error', () => {});
    pubsub = new RedisPubSub(redis, pino({ level: 'silent' }));
  });
  after(async () => {
    await pubsub?.close();
    redis?.disconnect();
    await own?.stop();
  });

  it('asks a stream to resynchronise once its channel is subscribed again, then delivers as before', async () => {
    let state = { status: 'IN_PROGRESS', version: 3 };
    let resyncs = 0;
    const stream = pubsub.subscribe<{ status: string; version: number }>('trip:1', {
      resync: async () => {
        resyncs += 1;
        return [state];
      },
    });
    const plain = pubsub.subscribe<{ status: string; version: number }>('trip:1');
    await Promise.all([stream.ready, plain.ready]);
    await pubsub.publish('trip:1', state);
    assert.deepEqual((await stream.next()).value, state);
    assert.deepEqual((await plain.next()).value, state);

    const reconnected = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    await own.kill();
    // Written to the owner's database while Redis is gone: its publish would be lost.
    state = { status: 'COMPLETED', version: 4 };
    await own.start();
    await reconnected;

    assert.deepEqual((await stream.next()).value, { status: 'COMPLETED', version: 4 }, 'the state read after the gap');
    assert.equal(resyncs, 1);
    // Messages flow again, to both subscriptions (the one without resync simply missed the gap).
    await pubsub.publish('trip:1', { status: 'COMPLETED', version: 5 });
    assert.deepEqual((await stream.next()).value, { status: 'COMPLETED', version: 5 });
    assert.deepEqual((await plain.next()).value, { status: 'COMPLETED', version: 5 });
    await Promise.all([stream.return!(), plain.return!()]);
  });
});
