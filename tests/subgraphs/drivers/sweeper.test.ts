import assert from 'node:assert/strict';
import { once, EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import { transitionDriver } from '../../../subgraphs/drivers/availability.ts';
import { Sweeper } from '../../../subgraphs/drivers/live/sweeper.ts';
import type { LiveStore } from '../../../subgraphs/drivers/live/store.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { testRedis } from '../../support/redis-env.ts';
import { offset, REDIS, startLiveStack, TestClock, type LiveStack, type OnlineDriver } from './live-stack.ts';

const CAIRO = { lat: 30.0444, lng: 31.2357 };
const BATCH = `mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`;

describe('presence and the sweeper', () => {
  let stack: LiveStack;
  const clock = new TestClock();

  before(async () => {
    stack = await startLiveStack({ clock, sweepIntervalMs: 0 });
  });
  after(() => stack.stop());

  /** A live fix taken now by the server's (test) clock. */
  const report = async (driver: OnlineDriver, point: { lat: number; lng: number }) =>
    dataOf(await stack.queryDrivers(BATCH, { b: [{ ...point, accuracyM: 5, recordedAt: new Date(clock.now()).toISOString() }] }, driver.token));
  const availabilityOf = async (driver: OnlineDriver) => dataOf<any>(await stack.queryDrivers(`query($id: ID!) { driver(id: $id) { availability } }`, { id: driver.driverId }, driver.token)).driver.availability;
  const nearby = async (point: { lat: number; lng: number }) =>
    (await stack.live.store.nearby({ near: point, radiusM: 200, vehicleType: null, first: 50 }, 0)).map((candidate) => candidate.driverId);

  it('gives a live fix a presence of 30 seconds in Redis', { skip: !REDIS && 'REDIS_URL is not set' }, async () => {
    const driver = await stack.onlineDriver();
    await report(driver, CAIRO);
    const redis = testRedis('sweeper-test')!;
    try {
      const ttl = await redis.pttl(stack.live.keys.presence(driver.driverId));
      assert.ok(ttl > 25_000 && ttl <= 30_000, `PTTL ${ttl}`);
    } finally {
      redis.disconnect();
    }
  });

  it('takes a driver silent for more than 30 seconds offline and off the map, and not a second earlier', async () => {
    const driver = await stack.onlineDriver();
    const point = offset(CAIRO, 1000, 0);
    await report(driver, point);
    const reportedAt = clock.now(); // no earlier than the server's time of the fix
    assert.ok(!(await stack.live.sweepOnce(reportedAt + 29_000)).includes(driver.driverId));
    assert.equal(await availabilityOf(driver), 'AVAILABLE');
    assert.ok((await nearby(point)).includes(driver.driverId));

    const swept = await stack.live.sweepOnce(reportedAt + 30_001);
    assert.ok(swept.includes(driver.driverId));
    assert.equal(await availabilityOf(driver), 'OFFLINE');
    assert.ok(!(await nearby(point)).includes(driver.driverId));
    assertErrorCode(await stack.queryDrivers(BATCH, { b: [{ ...point, recordedAt: new Date(clock.now()).toISOString() }] }, driver.token), 'CONFLICT');
    assert.ok(!(await stack.live.sweepOnce(reportedAt + 60_000)).includes(driver.driverId), 'a driver is swept once');
  });

  it('keeps a driver who keeps reporting', async () => {
    const driver = await stack.onlineDriver();
    const point = offset(CAIRO, 2000, 0);
    await report(driver, point);
    clock.advance(20_000);
    await report(driver, offset(point, 100, 0));
    assert.ok(!(await stack.live.sweepOnce(clock.now() + 15_000)).includes(driver.driverId));
    assert.equal(await availabilityOf(driver), 'AVAILABLE');
  });

  it('sweeps a driver who went online but never reported', async () => {
    const driver = await stack.onlineDriver();
    assert.ok((await stack.live.sweepOnce(clock.now() + 31_000)).includes(driver.driverId));
    assert.equal(await availabilityOf(driver), 'OFFLINE');
  });

  it('leaves a silent BUSY driver BUSY, but off the map until they report again', async () => {
    const driver = await stack.onlineDriver();
    const point = offset(CAIRO, 3000, 0);
    await report(driver, point);
    const ref = (await stack.live.directory.byId(driver.driverId))!;
    await transitionDriver(stack.live.store, ref, 'OFFERED', clock.now());
    await transitionDriver(stack.live.store, ref, 'BUSY', clock.now());
    assert.ok(!(await stack.live.sweepOnce(clock.now() + 31_000)).includes(driver.driverId));
    assert.equal(await availabilityOf(driver), 'BUSY');
    await transitionDriver(stack.live.store, ref, 'COOLDOWN', clock.now());
    await transitionDriver(stack.live.store, ref, 'AVAILABLE', clock.now());
    assert.ok(!(await nearby(point)).includes(driver.driverId), 'the silent position is not offered to riders');
    await report(driver, point);
    assert.ok((await nearby(point)).includes(driver.driverId));
  });

  it('sweeps on its own every interval', async () => {
    const calls = new EventEmitter();
    const store = {
      sweep: async (now: number) => {
        calls.emit('sweep', now);
        return [];
      },
      endCooldowns: async () => [],
    } as unknown as LiveStore;
    const sweeper = new Sweeper({ store, now: () => 42, intervalMs: 5, logger: createLogger({ service: 'drivers', logLevel: 'silent', production: false, env: 'test' }) });
    sweeper.start();
    try {
      const [first] = await once(calls, 'sweep');
      const [second] = await once(calls, 'sweep');
      assert.deepEqual([first, second], [42, 42]);
    } finally {
      await sweeper.stop();
    }
  });
});
