/**
 * The outbox across a Redis loss, on a redis-server of the test's own (killed, started again empty):
 * the stream and its consumer groups are gone with whatever was unread; the relay notices and
 * publishes again what it published lately, and consumers' idempotency keeps each effect single.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ownRedisUnavailable, startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { appliedRows, BusWorld, eventually, recordingConsumer, recordThings } from './events-fixture.ts';

const skip = ownRedisUnavailable() ?? (process.env.DATABASE_URL ? undefined : 'needs DATABASE_URL (the outbox in Postgres; embedded mode has no Redis to lose)');
if (skip) console.log(`# skipped: the outbox across a Redis loss ${skip}`);

describe('the outbox across a Redis loss', { skip }, () => {
  let own: OwnRedis;
  let world: BusWorld;
  before(async () => {
    own = await startOwnRedis();
    world = await BusWorld.create('Postgres + Redis Streams', { redisUrl: own.url });
  });
  after(async () => {
    await world?.dispose();
    await own?.stop();
  });

  it('publishes again what a lost stream held, read or not, and every consumer applies each event once', async () => {
    const trips = await world.node('trips');
    const drivers = await world.node('drivers');
    drivers.bus.consume(recordingConsumer(drivers, { name: 'reader', source: 'trips' }));
    await trips.bus.start();
    await drivers.bus.start();
    const before = await recordThings(trips, 10, { from: 100 });
    await trips.bus.flush();
    // One consumer has read everything; the other has not started: its events wait in the stream.
    await eventually(async () => (await appliedRows(drivers, 'reader')).length === 10, { what: 'the reader to apply the first ten' });

    await own.kill();
    await own.start();
    const afterwards = await recordThings(trips, 5, { from: 110 });

    const wallet = await world.node('wallet');
    wallet.bus.consume(recordingConsumer(wallet, { name: 'late', source: 'trips' }));
    await wallet.bus.start();
    const all = [...before, ...afterwards].map((event) => event.id).sort();
    for (const [node, consumer] of [[drivers, 'reader'], [wallet, 'late']] as const) {
      await eventually(async () => (await appliedRows(node, consumer)).length >= all.length, { what: `${node.name}/${consumer} to apply all 15` });
      await trips.bus.flush();
      assert.deepEqual((await appliedRows(node, consumer)).map((row) => row.event_id).sort(), all, `${node.name}/${consumer} applied each event once`);
    }
    await Promise.all([trips.stop(), drivers.stop(), wallet.stop()]);
  });
});
