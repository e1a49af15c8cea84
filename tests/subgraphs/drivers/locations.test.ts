import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../../../subgraphs/drivers/entities.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { isoAgo, offset, REDIS, startLiveStack, type LiveStack, type OnlineDriver } from './live-stack.ts';

const UPDATE = `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }`;
const BATCH = `mutation($batch: [LocationInput!]!) { updateLocations(batch: $batch) { accepted rejected } }`;
const LAST = `query($id: ID!) { driver(id: $id) { lastLocation { driverId location { lat lng } heading speedKmh accuracyM recordedAt } } }`;
const SPOOFING = `query($id: ID!) { driver(id: $id) { suspectedSpoofing } }`;
const CAIRO = { lat: 30.0444, lng: 31.2357 };

describe('driver locations', () => {
  let stack: LiveStack;

  before(async () => {
    // History is written only when a test flushes it: every statement a test counts is its own.
    stack = await startLiveStack({ sweepIntervalMs: 0, history: { flushIntervalMs: 3_600_000, batchSize: 10_000 } });
  });
  after(() => stack.stop());

  const fix = (point: { lat: number; lng: number }, secondsAgo = 0, extra: Record<string, unknown> = {}) => ({ ...point, heading: 90, speedKmh: 30, accuracyM: 8, recordedAt: isoAgo(Date.now(), secondsAgo), ...extra });
  const lastLocation = async (driver: OnlineDriver) => dataOf<any>(await stack.query(LAST, { id: driver.driverId }, driver.token)).driver.lastLocation;
  const nearbyIds = async (near: { lat: number; lng: number }) => {
    const rider = await stack.signUp('RIDER');
    return dataOf<any>(await stack.query(`query($near: LatLngInput!) { nearbyDrivers(near: $near, radiusM: 500, first: 50) { driver { id } } }`, { near }, rider.token)).nearbyDrivers.map((hit: any) => hit.driver.id);
  };
  const historyRows = async (driverId: string): Promise<number> => {
    await stack.live.history.flush();
    const [row] = await stack.drivers.db.orm.em.getConnection().execute(`select count(*)::int as "count" from "drivers"."driver_location_history" where "driver_id" = ?`, [driverId]);
    return row.count;
  };

  it('accepts a live fix from an online driver: it becomes their last location and puts them on the map', async () => {
    const driver = await stack.onlineDriver();
    const point = offset(CAIRO, 100, 200);
    const sent = fix(point, 1);
    assert.deepEqual(dataOf<any>(await stack.query(UPDATE, { input: sent }, driver.token)).updateLocation, { accepted: true, rejectedReason: null });
    assert.deepEqual(await lastLocation(driver), { driverId: driver.driverId, location: point, heading: 90, speedKmh: 30, accuracyM: 8, recordedAt: sent.recordedAt });
    assert.ok((await nearbyIds(point)).includes(driver.driverId));
    assert.equal(await historyRows(driver.driverId), 1);
  });

  it('answers a fix from an offline driver with CONFLICT and keeps nothing', async () => {
    const driver = await stack.driver();
    const result = await stack.query(UPDATE, { input: fix(CAIRO) }, driver.token);
    assertErrorCode(result, 'CONFLICT');
    assert.equal(result.body.errors![0].extensions!.availability, 'OFFLINE');
    assertErrorCode(await stack.query(BATCH, { batch: [fix(CAIRO)] }, driver.token), 'CONFLICT');
    assert.equal(await lastLocation(driver), null);
    assert.equal(await historyRows(driver.driverId), 0);
  });

  it('lets only drivers send locations', async () => {
    const rider = await stack.signUp('RIDER');
    assertErrorCode(await stack.query(UPDATE, { input: fix(CAIRO) }, rider.token), 'FORBIDDEN');
    assertErrorCode(await stack.query(BATCH, { batch: [fix(CAIRO)] }), 'UNAUTHENTICATED');
  });

  describe('the rate limit', () => {
    it('answers a second live fix within 2 seconds with RATE_LIMITED and keeps the first', async () => {
      const driver = await stack.onlineDriver();
      const first = fix(offset(CAIRO, 0, 10), 1);
      assert.equal(dataOf<any>(await stack.query(UPDATE, { input: first }, driver.token)).updateLocation.accepted, true);
      const second = await stack.query(UPDATE, { input: fix(offset(CAIRO, 0, 20)) }, driver.token);
      assertErrorCode(second, 'RATE_LIMITED');
      const retryAfterMs = second.body.errors![0].extensions!.retryAfterMs;
      assert.ok(retryAfterMs > 0 && retryAfterMs <= 2000, `retryAfterMs ${retryAfterMs}`);
      assert.deepEqual((await lastLocation(driver)).location, offset(CAIRO, 0, 10));
    });

    it('exempts backfill batches', async () => {
      const driver = await stack.onlineDriver();
      assert.equal(dataOf<any>(await stack.query(UPDATE, { input: fix(CAIRO, 3) }, driver.token)).updateLocation.accepted, true);
      assertErrorCode(await stack.query(UPDATE, { input: fix(CAIRO, 2) }, driver.token), 'RATE_LIMITED');
      const newest = offset(CAIRO, 5, 5);
      assert.deepEqual(dataOf<any>(await stack.query(BATCH, { batch: [fix(offset(CAIRO, 2, 2), 2), fix(newest, 1)] }, driver.token)).updateLocations, { accepted: 2, rejected: 0 });
      assert.deepEqual((await lastLocation(driver)).location, newest);
    });

    it('lets exactly one of many simultaneous live fixes through', async () => {
      const driver = await stack.onlineDriver();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => stack.queryDrivers(UPDATE, { input: fix(offset(CAIRO, i, 0), 1) }, driver.token)));
      assert.equal(results.filter((result) => result.body.data?.updateLocation?.accepted).length, 1);
      for (const result of results.filter((r) => !r.body.data?.updateLocation)) assertErrorCode(result, 'RATE_LIMITED');
      assert.equal(await historyRows(driver.driverId), 1);
    });
  });

  describe('fixes kept out of the live index', () => {
    it('flags a jump faster than 200 km/h as spoofing, keeps it out, and tells admins', async () => {
      const driver = await stack.onlineDriver();
      const admin = await stack.admin();
      assert.deepEqual(dataOf<any>(await stack.query(BATCH, { batch: [fix(CAIRO, 20)] }, driver.token)).updateLocations, { accepted: 1, rejected: 0 });
      assert.equal(dataOf<any>(await stack.query(SPOOFING, { id: driver.driverId }, admin.token)).driver.suspectedSpoofing, false);
      // 5 km in 10 s is 1,800 km/h.
      const jump = await stack.query(UPDATE, { input: fix(offset(CAIRO, 5000, 0), 10) }, driver.token);
      assert.deepEqual(dataOf<any>(jump).updateLocation, { accepted: false, rejectedReason: 'IMPLAUSIBLE_SPEED' });
      assert.deepEqual((await lastLocation(driver)).location, CAIRO);
      assert.ok(!(await nearbyIds(offset(CAIRO, 5000, 0))).includes(driver.driverId));
      assert.equal(dataOf<any>(await stack.query(SPOOFING, { id: driver.driverId }, admin.token)).driver.suspectedSpoofing, true);
      assertErrorCode(await stack.query(SPOOFING, { id: driver.driverId }, driver.token), 'FORBIDDEN');
      assert.equal(await historyRows(driver.driverId), 1, 'the spoofed point is not history');
      const stored = await stack.drivers.db.fork().findOneOrFail(Driver, { id: driver.driverId });
      assert.ok(stored.suspectedSpoofingAt, 'the flag is kept in Postgres too');
    });

    it('accepts a fast but plausible drive', async () => {
      const driver = await stack.onlineDriver();
      dataOf(await stack.query(BATCH, { batch: [fix(CAIRO, 20)] }, driver.token));
      // 500 m in 10 s is 180 km/h.
      assert.equal(dataOf<any>(await stack.query(UPDATE, { input: fix(offset(CAIRO, 500, 0), 10) }, driver.token)).updateLocation.accepted, true);
    });

    it('keeps a fix less accurate than 50 m out of the index and the history', async () => {
      const driver = await stack.onlineDriver();
      const result = await stack.query(UPDATE, { input: fix(CAIRO, 0, { accuracyM: 51 }) }, driver.token);
      assert.deepEqual(dataOf<any>(result).updateLocation, { accepted: false, rejectedReason: 'LOW_ACCURACY' });
      assert.equal(await lastLocation(driver), null);
      assert.ok(!(await nearbyIds(CAIRO)).includes(driver.driverId));
      assert.equal(await historyRows(driver.driverId), 0);
    });

    it('keeps a fix older than 2 minutes out of the index, but in the history', async () => {
      const driver = await stack.onlineDriver();
      const result = await stack.query(UPDATE, { input: fix(CAIRO, 121) }, driver.token);
      assert.deepEqual(dataOf<any>(result).updateLocation, { accepted: false, rejectedReason: 'STALE' });
      assert.equal(await lastLocation(driver), null);
      assert.equal(await historyRows(driver.driverId), 1);
    });

    it('keeps a fix older than the last known one out of the index', async () => {
      const driver = await stack.onlineDriver();
      dataOf(await stack.query(BATCH, { batch: [fix(CAIRO, 5)] }, driver.token));
      assert.deepEqual(dataOf<any>(await stack.query(UPDATE, { input: fix(offset(CAIRO, 10, 0), 6) }, driver.token)).updateLocation, { accepted: false, rejectedReason: 'OUT_OF_ORDER' });
      assert.deepEqual((await lastLocation(driver)).location, CAIRO);
    });
  });

  describe('validation', () => {
    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['a latitude over 90', { lat: 90.5 }, 'lat'],
      ['a longitude under -180', { lng: -180.5 }, 'lng'],
      ['a heading over 360', { heading: 361 }, 'heading'],
      ['a negative speed', { speedKmh: -1 }, 'speedKmh'],
      ['a speed over 300 km/h', { speedKmh: 301 }, 'speedKmh'],
      ['a negative accuracy', { accuracyM: -0.1 }, 'accuracyM'],
      ['a fix from more than 5 seconds in the future', { recordedAt: new Date(Date.now() + 60_000).toISOString() }, 'recordedAt'],
    ];
    for (const [what, overrides, field] of invalid) {
      it(`rejects ${what} with BAD_USER_INPUT, writing nothing`, async () => {
        const driver = await stack.onlineDriver();
        const result = await stack.query(UPDATE, { input: fix(CAIRO, 0, overrides) }, driver.token);
        assertErrorCode(result, 'BAD_USER_INPUT');
        assert.ok(result.body.errors![0].extensions!.fields?.[field], `names ${field}: ${JSON.stringify(result.body.errors)}`);
        assert.equal(await lastLocation(driver), null);
        assert.equal(await historyRows(driver.driverId), 0);
        // Not even the rate limit was spent.
        assert.equal(dataOf<any>(await stack.query(UPDATE, { input: fix(CAIRO) }, driver.token)).updateLocation.accepted, true);
      });
    }

    it('accepts a fix up to 5 seconds in the future (clock skew) and fixes without the optional fields', async () => {
      const driver = await stack.onlineDriver();
      const input = { ...CAIRO, recordedAt: new Date(Date.now() + 4_000).toISOString() };
      assert.equal(dataOf<any>(await stack.query(UPDATE, { input }, driver.token)).updateLocation.accepted, true);
      const last = await lastLocation(driver);
      assert.deepEqual([last.heading, last.speedKmh, last.accuracyM], [null, null, null]);
    });

    it('rejects a whole batch with one bad point, naming it, and writes nothing', async () => {
      const driver = await stack.onlineDriver();
      const result = await stack.query(BATCH, { batch: [fix(CAIRO, 3), fix(CAIRO, 2, { lat: 100 }), fix(CAIRO, 1)] }, driver.token);
      assertErrorCode(result, 'BAD_USER_INPUT');
      assert.ok(result.body.errors![0].extensions!.fields['batch.1.lat']);
      assert.equal(await lastLocation(driver), null);
      assert.equal(await historyRows(driver.driverId), 0);
    });

    it('rejects an empty batch, one over 100 points, and one not oldest first', async () => {
      const driver = await stack.onlineDriver();
      const many = Array.from({ length: 101 }, (_, i) => fix(offset(CAIRO, i, 0), 101 - i));
      for (const batch of [[], many, [fix(CAIRO, 1), fix(CAIRO, 2)]]) assertErrorCode(await stack.query(BATCH, { batch }, driver.token), 'BAD_USER_INPUT');
      assert.equal(await historyRows(driver.driverId), 0);
    });
  });

  describe('backfill', () => {
    it('keeps every plausible point in the history and only the newest in the live index', async () => {
      const driver = await stack.onlineDriver();
      const points = [fix(offset(CAIRO, 0, 0), 300), fix(offset(CAIRO, 100, 0), 240), fix(offset(CAIRO, 200, 0), 30, { accuracyM: 80 }), fix(offset(CAIRO, 300, 0), 20), fix(offset(CAIRO, 400, 0), 10)];
      assert.deepEqual(dataOf<any>(await stack.query(BATCH, { batch: points }, driver.token)).updateLocations, { accepted: 4, rejected: 1 });
      assert.deepEqual((await lastLocation(driver)).location, offset(CAIRO, 400, 0));
      assert.equal(await historyRows(driver.driverId), 4);
    });

    it('checks a batch as one trajectory: a jump between two of its points is dropped and flagged', async () => {
      const driver = await stack.onlineDriver();
      const admin = await stack.admin();
      const points = [fix(CAIRO, 30), fix(offset(CAIRO, 10_000, 0), 25), fix(offset(CAIRO, 50, 0), 20)];
      assert.deepEqual(dataOf<any>(await stack.query(BATCH, { batch: points }, driver.token)).updateLocations, { accepted: 2, rejected: 1 });
      assert.deepEqual((await lastLocation(driver)).location, offset(CAIRO, 50, 0));
      assert.equal(dataOf<any>(await stack.query(SPOOFING, { id: driver.driverId }, admin.token)).driver.suspectedSpoofing, true);
    });

    it('keeps a batch of only old points out of the live index', async () => {
      const driver = await stack.onlineDriver();
      assert.deepEqual(dataOf<any>(await stack.query(BATCH, { batch: [fix(CAIRO, 400), fix(CAIRO, 300)] }, driver.token)).updateLocations, { accepted: 2, rejected: 0 });
      assert.equal(await lastLocation(driver), null);
    });

    it('ignores a point sent twice in the history', async () => {
      const driver = await stack.onlineDriver();
      const point = fix(CAIRO, 10);
      dataOf(await stack.query(BATCH, { batch: [point] }, driver.token));
      assert.deepEqual(dataOf<any>(await stack.query(BATCH, { batch: [point] }, driver.token)).updateLocations, { accepted: 1, rejected: 0 });
      assert.equal(await historyRows(driver.driverId), 1);
    });
  });

  it('sends no SQL on the hot path once the driver is known (Redis)', { skip: !REDIS && 'embedded mode mirrors positions to Postgres' }, async () => {
    const driver = await stack.onlineDriver();
    dataOf(await stack.queryDrivers(BATCH, { batch: [fix(CAIRO, 30)] }, driver.token));
    const before = stack.statements.count;
    assert.equal(dataOf<any>(await stack.queryDrivers(UPDATE, { input: fix(offset(CAIRO, 10, 0), 1) }, driver.token)).updateLocation.accepted, true);
    dataOf(await stack.queryDrivers(BATCH, { batch: [fix(offset(CAIRO, 20, 0), 0)] }, driver.token));
    assert.equal(stack.statements.count, before);
    assert.equal(stack.live.history.pending > 0, true, 'the points wait in the history buffer');
  });
});
