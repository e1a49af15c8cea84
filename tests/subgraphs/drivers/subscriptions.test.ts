import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../platform/config.ts';
import { createLogger } from '../../../platform/logger.ts';
import { startSubgraph } from '../../../platform/subgraph.ts';
import { createDriversSubgraph } from '../../../subgraphs/drivers/index.ts';
import { dataOf } from '../../support/client.ts';
import { isoAgo, ManualScheduler, offset, REDIS, startLiveStack, type LiveStack, type OnlineDriver } from './live-stack.ts';

const CAIRO = { lat: 30.0444, lng: 31.2357 };
const FOLLOW = `subscription($id: ID!) {
  driverLocation(driverId: $id) { driverId location { lat lng } heading recordedAt driver { id vehicle { plate } user { id } } }
}`;
const AROUND = `subscription($near: LatLngInput!) {
  nearbyDriversUpdates(near: $near, radiusM: 1000) { at drivers { distanceM driver { id } } }
}`;
const BATCH = `mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`;
const UPDATE = `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted } }`;

describe('subscriptions on the drivers subgraph (graphql-ws)', () => {
  let stack: LiveStack;
  const scheduler = new ManualScheduler();

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0, scheduler });
  });
  after(() => stack.stop());

  const fix = (point: { lat: number; lng: number }, secondsAgo: number) => ({ ...point, heading: 45, accuracyM: 5, recordedAt: isoAgo(Date.now(), secondsAgo) });
  const driverAt = async (point: { lat: number; lng: number }): Promise<OnlineDriver> => {
    const driver = await stack.onlineDriver();
    dataOf(await stack.queryDrivers(BATCH, { b: [fix(point, 10)] }, driver.token));
    return driver;
  };
  const codesOf = (result: IteratorResult<any>) => (result.value?.errors ?? []).map((error: any) => error.extensions?.code);

  describe('driverLocation', () => {
    it("gives a driver their own last location, then the next fix, with the driver's fields resolved", async () => {
      const start = offset(CAIRO, 100, 0);
      const driver = await driverAt(start);
      const events = stack.wsClient({ token: driver.token }).iterate({ query: FOLLOW, variables: { id: driver.driverId } });
      const snapshot = await events.next();
      assert.deepEqual(snapshot.value.data.driverLocation, {
        driverId: driver.driverId,
        location: start,
        heading: 45,
        recordedAt: snapshot.value.data.driverLocation.recordedAt,
        driver: { id: driver.driverId, vehicle: { plate: driver.plate }, user: { id: driver.id } },
      });
      const moved = offset(CAIRO, 150, 0);
      assert.equal(dataOf<any>(await stack.queryDrivers(UPDATE, { input: fix(moved, 0) }, driver.token)).updateLocation.accepted, true);
      const next = await events.next();
      assert.deepEqual(next.value.data.driverLocation.location, moved);
      await events.return!();
    });

    it('lets an admin follow any driver', async () => {
      const driver = await driverAt(CAIRO);
      const events = stack.wsClient({ token: (await stack.admin()).token }).iterate({ query: FOLLOW, variables: { id: driver.driverId } });
      assert.equal((await events.next()).value.data.driverLocation.driverId, driver.driverId);
      await events.return!();
    });

    it('takes the token per operation, the way the router forwards it', async () => {
      const driver = await driverAt(CAIRO);
      const events = stack.wsClient().iterate({ query: FOLLOW, variables: { id: driver.driverId }, extensions: { authorization: `Bearer ${driver.token}` } });
      assert.equal((await events.next()).value.data.driverLocation.driverId, driver.driverId);
      await events.return!();
    });

    it('refuses another rider with FORBIDDEN, and an anonymous caller with UNAUTHENTICATED', async () => {
      const driver = await driverAt(CAIRO);
      const rider = await stack.signUp('RIDER');
      const forbidden = stack.wsClient({ token: rider.token }).iterate({ query: FOLLOW, variables: { id: driver.driverId } });
      const denied = await forbidden.next();
      assert.deepEqual(codesOf(denied), ['FORBIDDEN']);
      assert.equal(denied.value.data ?? null, null, 'no data');
      assert.equal((await forbidden.next()).done, true, 'and the subscription ends');
      const anonymous = stack.wsClient().iterate({ query: FOLLOW, variables: { id: driver.driverId } });
      assert.deepEqual(codesOf(await anonymous.next()), ['UNAUTHENTICATED']);
    });

    it('refuses another driver too', async () => {
      const driver = await driverAt(CAIRO);
      const other = await stack.onlineDriver();
      const events = stack.wsClient({ token: other.token }).iterate({ query: FOLLOW, variables: { id: driver.driverId } });
      assert.deepEqual(codesOf(await events.next()), ['FORBIDDEN']);
    });

    it('closes a connection whose connection_init carries an invalid token with 4401', async () => {
      let closedWith: number | undefined;
      const client = stack.wsClient({ token: 'not-a-jwt', onClosed: (event) => (closedWith = (event as { code: number }).code) });
      const events = client.iterate({ query: FOLLOW, variables: { id: '00000000-0000-4000-8000-000000000000' } });
      await assert.rejects(events.next(), (event: { code?: number }) => event.code === 4401);
      assert.equal(closedWith, 4401);
    });

    it('delivers a fix sent to one replica to a follower on another (Redis pub/sub)', { skip: !REDIS && 'REDIS_URL is not set' }, async () => {
      const replica = await startSubgraph(createDriversSubgraph({ sweepIntervalMs: 0 }), loadConfig('drivers', stack.env), { logger: createLogger(stack.config('drivers')) });
      try {
        const driver = await driverAt(CAIRO);
        const stream = stack.wsClient({ token: driver.token, url: replica.url }).iterate({ query: FOLLOW, variables: { id: driver.driverId } });
        assert.deepEqual((await stream.next()).value.data.driverLocation.location, CAIRO);
        const moved = offset(CAIRO, 0, 80);
        dataOf(await stack.queryDrivers(UPDATE, { input: fix(moved, 0) }, driver.token));
        assert.deepEqual((await stream.next()).value.data.driverLocation.location, moved);
        await stream.return!();
      } finally {
        await replica.stop();
      }
    });
  });

  describe('nearbyDriversUpdates', () => {
    it('sends a snapshot with a nearby online driver at once, then one per tick', async () => {
      const center = offset(CAIRO, 5000, 5000);
      const driver = await driverAt(offset(center, 300, 0));
      const rider = await stack.signUp('RIDER');
      const events = stack.wsClient({ token: rider.token }).iterate({ query: AROUND, variables: { near: center } });
      const first = (await events.next()).value.data.nearbyDriversUpdates;
      assert.deepEqual(first.drivers, [{ distanceM: 300, driver: { id: driver.driverId } }]);
      assert.ok(Math.abs(Date.parse(first.at) - Date.now()) < 10_000);
      assert.equal(scheduler.active, 1);

      dataOf(await stack.queryDrivers(BATCH, { b: [fix(offset(center, 200, 0), 1)] }, driver.token));
      scheduler.tick();
      const second = (await events.next()).value.data.nearbyDriversUpdates;
      assert.deepEqual(second.drivers, [{ distanceM: 200, driver: { id: driver.driverId } }]);

      await events.return!();
      await scheduler.idle();
      assert.equal(stack.live.activeFeeds, 0, 'no timer outlives the subscription');
    });

    it('stops ticking when the client goes away without unsubscribing', async () => {
      const rider = await stack.signUp('RIDER');
      const client = stack.wsClient({ token: rider.token });
      const events = client.iterate({ query: AROUND, variables: { near: offset(CAIRO, -7000, 0) } });
      assert.deepEqual((await events.next()).value.data.nearbyDriversUpdates.drivers, []);
      assert.equal(scheduler.active, 1);
      await client.dispose();
      await scheduler.idle();
      assert.equal(stack.live.activeFeeds, 0);
    });

    it('is for riders and admins', async () => {
      const driver = await stack.onlineDriver();
      const events = stack.wsClient({ token: driver.token }).iterate({ query: AROUND, variables: { near: CAIRO } });
      assert.deepEqual(codesOf(await events.next()), ['FORBIDDEN']);
      const admin = stack.wsClient({ token: (await stack.admin()).token }).iterate({ query: AROUND, variables: { near: CAIRO } });
      assert.ok((await admin.next()).value.data.nearbyDriversUpdates);
      await admin.return!();
      await scheduler.idle();
    });

    it('rejects a radius over 10 km with BAD_USER_INPUT', async () => {
      const rider = await stack.signUp('RIDER');
      const events = stack.wsClient({ token: rider.token }).iterate({ query: `subscription { nearbyDriversUpdates(near: { lat: 30, lng: 31 }, radiusM: 20000) { at } }` });
      assert.deepEqual(codesOf(await events.next()), ['BAD_USER_INPUT']);
      assert.equal(scheduler.active, 0);
    });
  });
});
