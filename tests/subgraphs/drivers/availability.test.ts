import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AVAILABILITIES, canTransition, sourcesOf, transitionDriver, type Availability } from '../../../subgraphs/drivers/availability.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { startLiveStack, type LiveStack, type OnlineDriver } from './live-stack.ts';

const GO_ONLINE = `mutation { goOnline { id availability } }`;
const GO_OFFLINE = `mutation { goOffline { id availability } }`;
const AVAILABILITY = `query($id: ID!) { driver(id: $id) { availability } }`;

describe('the availability state machine', () => {
  const allowed: Array<[Availability, Availability]> = [
    ['OFFLINE', 'AVAILABLE'],
    ['AVAILABLE', 'OFFERED'],
    ['AVAILABLE', 'OFFLINE'],
    ['OFFERED', 'BUSY'],
    ['OFFERED', 'AVAILABLE'],
    ['OFFERED', 'OFFLINE'],
    ['BUSY', 'COOLDOWN'],
    ['BUSY', 'AVAILABLE'],
    ['COOLDOWN', 'AVAILABLE'],
  ];

  it('allows exactly the transitions of the working day and nothing else', () => {
    for (const from of AVAILABILITIES) {
      for (const to of AVAILABILITIES) {
        const expected = allowed.some(([a, b]) => a === from && b === to);
        assert.equal(canTransition(from, to), expected, `${from} → ${to}`);
      }
    }
  });

  it('never lets a BUSY or COOLDOWN driver go offline', () => {
    assert.deepEqual(sourcesOf('OFFLINE'), ['AVAILABLE', 'OFFERED']);
  });
});

describe('going online and offline', () => {
  let stack: LiveStack;

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0 });
  });
  after(() => stack.stop());

  const availabilityOf = async (driver: OnlineDriver) => dataOf<any>(await stack.query(AVAILABILITY, { id: driver.driverId }, driver.token)).driver.availability;
  const refOf = async (driver: OnlineDriver) => (await stack.live.directory.byId(driver.driverId))!;

  it('takes an approved driver from OFFLINE to AVAILABLE and back, through the router', async () => {
    const driver = await stack.driver();
    assert.equal(await availabilityOf(driver), 'OFFLINE');
    assert.deepEqual(dataOf<any>(await stack.query(GO_ONLINE, {}, driver.token)).goOnline, { id: driver.driverId, availability: 'AVAILABLE' });
    assert.equal(await availabilityOf(driver), 'AVAILABLE');
    assert.deepEqual(dataOf<any>(await stack.query(GO_OFFLINE, {}, driver.token)).goOffline, { id: driver.driverId, availability: 'OFFLINE' });
    assert.equal(await availabilityOf(driver), 'OFFLINE');
  });

  it('answers going online twice with CONFLICT naming the current state', async () => {
    const driver = await stack.onlineDriver();
    const result = await stack.query(GO_ONLINE, {}, driver.token);
    assertErrorCode(result, 'CONFLICT');
    assert.equal(result.body.errors![0].extensions!.availability, 'AVAILABLE');
  });

  it('answers going offline while offline with CONFLICT', async () => {
    const driver = await stack.driver();
    assertErrorCode(await stack.query(GO_OFFLINE, {}, driver.token), 'CONFLICT');
  });

  it('keeps a driver who is not approved offline, with CONFLICT naming the approval status', async () => {
    const driver = await stack.driver({ approved: false });
    const result = await stack.query(GO_ONLINE, {}, driver.token);
    assertErrorCode(result, 'CONFLICT');
    assert.equal(result.body.errors![0].extensions!.approvalStatus, 'PENDING');
    assert.equal(await availabilityOf(driver), 'OFFLINE');
  });

  it('answers a driver without a profile with NOT_FOUND', async () => {
    const user = await stack.signUp('DRIVER');
    assertErrorCode(await stack.query(GO_ONLINE, {}, user.token), 'NOT_FOUND');
  });

  it('lets only drivers go online, and asks anonymous callers to authenticate', async () => {
    const rider = await stack.signUp('RIDER');
    assertErrorCode(await stack.query(GO_ONLINE, {}, rider.token), 'FORBIDDEN');
    assertErrorCode(await stack.query(GO_ONLINE, {}), 'UNAUTHENTICATED');
    assertErrorCode(await stack.query(GO_OFFLINE, {}, (await stack.admin()).token), 'FORBIDDEN');
  });

  it('shows availability to the driver and admins only', async () => {
    const driver = await stack.onlineDriver();
    const admin = await stack.admin();
    assert.equal(dataOf<any>(await stack.query(AVAILABILITY, { id: driver.driverId }, admin.token)).driver.availability, 'AVAILABLE');
    const rider = await stack.signUp('RIDER');
    const other = await stack.driver();
    for (const caller of [rider, other]) assertErrorCode(await stack.query(AVAILABILITY, { id: driver.driverId }, caller.token), 'FORBIDDEN');
  });

  it('runs a whole trip cycle through transitionDriver, and refuses every shortcut with CONFLICT', async () => {
    const driver = await stack.onlineDriver();
    const ref = await refOf(driver);
    const now = Date.now();
    await assert.rejects(transitionDriver(stack.live.store, ref, 'BUSY', now), (error: any) => error.extensions.code === 'CONFLICT' && error.extensions.availability === 'AVAILABLE');
    for (const to of ['OFFERED', 'BUSY', 'COOLDOWN', 'AVAILABLE'] as const) await transitionDriver(stack.live.store, ref, to, now);
    await transitionDriver(stack.live.store, ref, 'OFFERED', now);
    await transitionDriver(stack.live.store, ref, 'AVAILABLE', now); // the offer was declined
    await transitionDriver(stack.live.store, ref, 'OFFERED', now);
    await transitionDriver(stack.live.store, ref, 'BUSY', now);
    await assert.rejects(transitionDriver(stack.live.store, ref, 'COOLDOWN', now, ['COOLDOWN']), /not a transition/);
    await assert.rejects(transitionDriver(stack.live.store, ref, 'OFFERED', now), (error: any) => error.extensions.code === 'CONFLICT');
    assert.equal(await availabilityOf(driver), 'BUSY');
    await transitionDriver(stack.live.store, ref, 'AVAILABLE', now); // the trip was cancelled
    assert.equal(await availabilityOf(driver), 'AVAILABLE');
  });

  it('answers goOnline from a driver who is offered a trip or on one with CONFLICT, leaving them where they are', async () => {
    const driver = await stack.onlineDriver();
    const ref = await refOf(driver);
    for (const state of ['OFFERED', 'BUSY'] as const) {
      await transitionDriver(stack.live.store, ref, state, Date.now());
      const result = await stack.query(GO_ONLINE, {}, driver.token);
      assertErrorCode(result, 'CONFLICT');
      assert.equal(result.body.errors![0].extensions!.availability, state);
      assert.equal(await availabilityOf(driver), state);
    }
  });

  it('keeps a BUSY or COOLDOWN driver online when they try to go offline', async () => {
    const driver = await stack.onlineDriver();
    const ref = await refOf(driver);
    await transitionDriver(stack.live.store, ref, 'OFFERED', Date.now());
    await transitionDriver(stack.live.store, ref, 'BUSY', Date.now());
    const busy = await stack.query(GO_OFFLINE, {}, driver.token);
    assertErrorCode(busy, 'CONFLICT');
    assert.equal(busy.body.errors![0].extensions!.availability, 'BUSY');
    await transitionDriver(stack.live.store, ref, 'COOLDOWN', Date.now());
    assertErrorCode(await stack.query(GO_OFFLINE, {}, driver.token), 'CONFLICT');
    assert.equal(await availabilityOf(driver), 'COOLDOWN');
  });

  it('lets exactly one of ten simultaneous goOnline calls through', async () => {
    const driver = await stack.driver();
    const results = await Promise.all(Array.from({ length: 10 }, () => stack.queryDrivers(GO_ONLINE, {}, driver.token)));
    assert.equal(results.filter((result) => result.body.data?.goOnline).length, 1);
    for (const result of results.filter((r) => !r.body.data?.goOnline)) assertErrorCode(result, 'CONFLICT');
    assert.equal(await availabilityOf(driver), 'AVAILABLE');
  });

  it('offers a driver to exactly one of many racing trips', async () => {
    const driver = await stack.onlineDriver();
    const ref = await refOf(driver);
    const attempts = await Promise.allSettled(Array.from({ length: 10 }, () => transitionDriver(stack.live.store, ref, 'OFFERED', Date.now())));
    assert.equal(attempts.filter((attempt) => attempt.status === 'fulfilled').length, 1);
    for (const attempt of attempts.filter((a) => a.status === 'rejected')) assert.equal((attempt as PromiseRejectedResult).reason.extensions.code, 'CONFLICT');
  });
});
