import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import type { Fix } from '../../../subgraphs/drivers/live/fixes.ts';
import { LocationHistory, partitionName } from '../../../subgraphs/drivers/live/history.ts';
import { startLiveStack, type LiveStack } from './live-stack.ts';

const DAY = 86_400_000;
const fixAt = (recordedAt: number, i = 0): Fix => ({ lat: 30 + i / 10_000, lng: 31, heading: null, speedKmh: null, accuracyM: 5, recordedAt });

describe('the location history', () => {
  let stack: LiveStack;

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0, history: { flushIntervalMs: 3_600_000 } });
  });
  after(() => stack.stop());

  const sql = (query: string, params: unknown[] = []): Promise<any[]> => stack.drivers.db.orm.em.getConnection().execute(query, params);
  const logger = () => createLogger({ service: 'drivers', logLevel: 'silent', production: false, env: 'test' });
  const history = (options: ConstructorParameters<typeof LocationHistory>[3] = {}) => new LocationHistory(stack.drivers.db, logger(), () => Date.now(), { flushIntervalMs: 3_600_000, ...options });
  const rowsOf = (driverId: string) => sql(`select "recorded_at", tableoid::regclass::text as "partition", xmin::text as "transaction" from "drivers"."driver_location_history" where "driver_id" = ? order by "recorded_at"`, [driverId]);

  it("has today's and tomorrow's partitions from start-up on", async () => {
    const partitions = await stack.live.history.partitions();
    for (const day of [Date.now(), Date.now() + DAY]) assert.ok(partitions.includes(partitionName(day)), `${partitionName(day)} in ${partitions}`);
  });

  it('writes a batch as soon as it is full, in one statement', async () => {
    const writer = history({ batchSize: 5 });
    const driverId = randomUUID();
    writer.record(driverId, [fixAt(Date.now() - 4000, 1), fixAt(Date.now() - 3000, 2), fixAt(Date.now() - 2000, 3), fixAt(Date.now() - 1000, 4)], Date.now());
    assert.equal(writer.pending, 4, 'waits for a full batch');
    writer.record(driverId, [fixAt(Date.now(), 5)], Date.now());
    assert.equal(writer.pending, 0, 'the full batch is on its way');
    await writer.flush();
    const rows = await rowsOf(driverId);
    assert.equal(rows.length, 5);
    assert.equal(new Set(rows.map((row) => row.transaction)).size, 1, 'one INSERT');
    await writer.stop();
  });

  it('writes every field exactly as recorded, missing ones as null', async () => {
    const writer = history();
    const driverId = randomUUID();
    const at = Date.now() - 1234;
    writer.record(driverId, [{ lat: 30.0444123, lng: 31.2357891, heading: 359.5, speedKmh: 0, accuracyM: 4.25, recordedAt: at - 3001 }, fixAt(at)], at + 7);
    await writer.stop();
    const rows = await sql(
      `select "lat", "lng", "heading", "speed_kmh", "accuracy_m", "recorded_at", "received_at" from "drivers"."driver_location_history" where "driver_id" = ? order by "recorded_at"`,
      [driverId],
    );
    assert.deepEqual(
      rows.map((row) => [row.lat, row.lng, row.heading, row.speed_kmh, row.accuracy_m, new Date(row.recorded_at).getTime(), new Date(row.received_at).getTime()]),
      [
        [30.0444123, 31.2357891, 359.5, 0, 4.25, at - 3001, at + 7],
        [30, 31, null, null, 5, at, at + 7],
      ],
    );
  });

  it('drops a point Postgres refuses for its values and writes the rest of its batch (one bad row never blocks the others)', async () => {
    const writer = history();
    const driverId = randomUUID();
    // Postgres refuses a latitude over 90 (a check constraint): that point alone is dropped.
    writer.record(driverId, [{ ...fixAt(Date.now() - 2000), lat: 91 }, fixAt(Date.now() - 1000)], Date.now());
    await writer.flush();
    assert.equal(writer.pending, 0, 'nothing left to fail the next batches');
    assert.equal(writer.rejected, 1);
    writer.record(driverId, [fixAt(Date.now())], Date.now());
    await writer.stop();
    assert.equal((await rowsOf(driverId)).length, 2, 'the good points are written');
  });

  it('writes what is left when it stops', async () => {
    const writer = history();
    const driverId = randomUUID();
    writer.record(driverId, [fixAt(Date.now() - 1000), fixAt(Date.now())], Date.now());
    assert.equal((await rowsOf(driverId)).length, 0);
    await writer.stop();
    assert.equal((await rowsOf(driverId)).length, 2);
  });

  it("puts a backfilled point in its own day's partition, creating it when needed", async () => {
    const writer = history();
    const driverId = randomUUID();
    const threeDaysAgo = Date.now() - 3 * DAY;
    writer.record(driverId, [fixAt(threeDaysAgo), fixAt(Date.now())], Date.now());
    await writer.stop();
    const rows = await rowsOf(driverId);
    assert.deepEqual(
      rows.map((row) => row.partition),
      [`drivers.${partitionName(threeDaysAgo)}`, `drivers.${partitionName(Date.now())}`],
    );
  });

  it('drops the partitions of days older than 90 days, and only those', async () => {
    const writer = history();
    const now = Date.now();
    await writer.ensurePartition(now - 91 * DAY);
    await writer.ensurePartition(now - 89 * DAY);
    const driverId = randomUUID();
    writer.record(driverId, [fixAt(now - 91 * DAY), fixAt(now - 89 * DAY)], now);
    await writer.flush();
    await writer.maintain(now);
    const partitions = await writer.partitions();
    assert.ok(!partitions.includes(partitionName(now - 91 * DAY)));
    assert.ok(partitions.includes(partitionName(now - 89 * DAY)));
    assert.ok(partitions.includes(partitionName(now + DAY)));
    assert.equal((await rowsOf(driverId)).length, 1, 'the expired day is gone with its partition');
    await writer.stop();
  });

  it('lets two replicas create the same partition at once', async () => {
    const day = Date.now() + 5 * DAY;
    await Promise.all([history().ensurePartition(day), history().ensurePartition(day), history().ensurePartition(day)]);
    assert.ok((await stack.live.history.partitions()).includes(partitionName(day)));
  });
});
