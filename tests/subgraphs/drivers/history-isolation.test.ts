import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import type { Fix } from '../../../subgraphs/drivers/live/fixes.ts';
import { LocationHistory } from '../../../subgraphs/drivers/live/history.ts';
import { startLiveStack, type LiveStack } from './live-stack.ts';

const fixAt = (recordedAt: number, extra: Partial<Fix> = {}): Fix => ({ lat: 30, lng: 31, heading: null, speedKmh: null, accuracyM: 5, recordedAt, ...extra });

/**
 * The attacker's finding: a point dated in year 0 was accepted, and from then on every batch of the
 * history writer failed on it and was put back, for every driver: nobody's points were written again.
 */
describe('the location history writer, given a point Postgres refuses', () => {
  let stack: LiveStack;
  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0, history: { flushIntervalMs: 3_600_000 } });
  });
  after(() => stack.stop());

  const sql = (query: string, params: unknown[] = []): Promise<any[]> => stack.drivers.db.orm.em.getConnection().execute(query, params);
  const writer = () => new LocationHistory(stack.drivers.db, createLogger({ service: 'drivers', logLevel: 'silent', production: false, env: 'test' }), () => Date.now(), { flushIntervalMs: 3_600_000 });
  const countOf = async (driverId: string) => Number((await sql(`select count(*) as "n" from "drivers"."driver_location_history" where "driver_id" = ?`, [driverId]))[0].n);

  it('drops that point alone and writes every other driver’s points of the batch', async () => {
    const history = writer();
    const [victim, others] = [randomUUID(), randomUUID()];
    const now = Date.now();
    history.record(others, [fixAt(now - 3000)], now);
    history.record(victim, [fixAt(new Date('0000-01-01T00:00:00Z').getTime())], now);
    history.record(others, [fixAt(now - 2000), fixAt(now - 1000)], now);
    await history.flush();
    assert.equal(await countOf(others), 3, 'the good points are written');
    assert.equal(await countOf(victim), 0);
    assert.equal(history.pending, 0, 'nothing left to block the next batches');
    assert.equal(history.rejected, 1);
    history.record(others, [fixAt(now)], now);
    await history.stop();
    assert.equal(await countOf(others), 4, 'later batches are written too');
  });

  it('stores float4 columns beyond float4’s range instead of failing the batch (heading 1e-50, accuracy 1e39)', async () => {
    const history = writer();
    const driverId = randomUUID();
    const now = Date.now();
    history.record(driverId, [fixAt(now - 1000, { heading: 1e-50, accuracyM: 1e39 }), fixAt(now)], now);
    await history.stop();
    assert.equal(history.rejected, 0);
    assert.equal(await countOf(driverId), 2);
  });

  it('keeps the whole batch for a retry when Postgres is out of reach (nothing dropped)', async () => {
    const history = writer();
    const driverId = randomUUID();
    const now = Date.now();
    history.record(driverId, [fixAt(now - 1000), fixAt(now)], now);
    const connection = stack.drivers.db.orm.em.getConnection();
    const execute = connection.execute;
    connection.execute = (async () => {
      throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    }) as typeof execute;
    try {
      await assert.rejects(history.flush());
    } finally {
      connection.execute = execute;
    }
    assert.equal(history.pending, 2);
    assert.equal(history.rejected, 0);
    await history.stop();
    assert.equal(await countOf(driverId), 2);
  });
});
