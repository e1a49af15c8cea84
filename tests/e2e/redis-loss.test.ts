/**
 * A Redis loss under a running ride: the stack runs on a redis-server of the test's own, which the test
 * kills and starts again (empty) while the ride goes on. Needs real Postgres (the subgraphs' state must
 * outlive Redis, as in production) and the redis-server binary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dataOf } from '../support/client.ts';
import { nextEvent } from '../support/rides.ts';
import { ownRedisUnavailable, startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { ARRIVE, COMPLETE, Rides, START } from '../subgraphs/trips/rides.ts';

const skip = ownRedisUnavailable() ?? (process.env.DATABASE_URL ? undefined : 'needs DATABASE_URL: embedded mode has no Redis to lose');
if (skip) console.log(`# skipped: a Redis loss under a running ride ${skip}`);

const TRIP_UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { status } }`;

describe('a Redis loss under a running ride', { skip }, () => {
  let own: OwnRedis;
  let stack: Stack;
  let rides: Rides;
  before(async () => {
    own = await startOwnRedis();
    stack = await startStack({ subgraphs: ['drivers', 'trips'], env: { REDIS_URL: own.url } });
    rides = new Rides(stack);
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
    await own?.stop();
  });

  it('a trip completed while Redis was down still reaches its status stream, which then ends', async () => {
    const { rider, driver, tripId } = await rides.assignedTrip();
    dataOf(await rides.as(driver, ARRIVE, { id: tripId }));
    dataOf(await rides.as(driver, START, { id: tripId }));
    const updates = rides.subscribe(rider, TRIP_UPDATES, { id: tripId });
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'IN_PROGRESS');

    await own.kill();
    // Postgres holds the trip: completing it works without Redis; its live notification is lost.
    assert.equal(dataOf<any>(await rides.as(driver, COMPLETE, { id: tripId })).completeTrip.status, 'COMPLETED');
    await own.start();

    // Trips' pub/sub reconnects and reads the trip again: the stream says COMPLETED and ends.
    assert.equal((await nextEvent(updates, 20_000, 'COMPLETED after Redis came back')).data?.tripUpdates.status, 'COMPLETED');
    assert.equal((await updates.next()).done, true, 'the stream ends after its terminal state');
  });
});
