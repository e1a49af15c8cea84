/**
 * A Redis loss under a running ride: the stack runs on a redis-server of the test's own, which the test
 * kills and starts again (empty) while the ride goes on. Needs real Postgres (the subgraphs' state must
 * outlive Redis, as in production) and the redis-server binary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dataOf, errorCodes } from '../support/client.ts';
import { nextEvent } from '../support/rides.ts';
import { ownRedisUnavailable, startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { ARRIVE, COMPLETE, Rides, START } from '../subgraphs/trips/rides.ts';

const GO_ONLINE = `mutation { goOnline { id } }`;

const skip = ownRedisUnavailable() ?? (process.env.DATABASE_URL ? undefined : 'needs DATABASE_URL: embedded mode has no Redis to lose');
if (skip) console.log(`# skipped: a Redis loss under a running ride ${skip}`);

const TRIP_UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { status } }`;

describe('a Redis loss under a running ride', { skip }, () => {
  let own: OwnRedis;
  let stack: Stack;
  let rides: Rides;
  before(async () => {
    own = await startOwnRedis();
    // A cooldown long enough to outlive the test: it must survive the loss, not end on its own.
    stack = await startStack({ subgraphs: ['drivers', 'trips'], env: { REDIS_URL: own.url, DRIVER_COOLDOWN_MS: '600000' } });
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

  it('puts drivers on a trip back to BUSY and drivers resting back in COOLDOWN; neither can go online', async () => {
    const onTrip = await rides.assignedTrip();
    const resting = await rides.assignedTrip();
    for (const step of [ARRIVE, START, COMPLETE]) dataOf(await rides.as(resting.driver, step, { id: resting.tripId }));
    const idle = await rides.onlineDriverAt(rides.freshArea());
    await rides.waitForAvailability(onTrip.driver, 'BUSY');
    await rides.waitForAvailability(resting.driver, 'COOLDOWN');

    await own.kill();
    await own.start();

    // Rebuilt from Postgres once drivers' Redis connection is back; the idle driver waits for their app.
    await rides.waitForAvailability(onTrip.driver, 'BUSY');
    await rides.waitForAvailability(resting.driver, 'COOLDOWN');
    await rides.waitForAvailability(idle, 'OFFLINE');
    for (const driver of [onTrip.driver, resting.driver]) {
      assert.deepEqual(errorCodes(await rides.as(driver, GO_ONLINE, {})), ['CONFLICT'], `goOnline of a ${await rides.availability(driver)} driver`);
    }
    assert.equal(await rides.availability(onTrip.driver), 'BUSY');
    dataOf(await rides.as(idle, GO_ONLINE, {}));
    assert.equal(await rides.availability(idle), 'AVAILABLE');
  });
});
