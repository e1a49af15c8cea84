import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SupplySnapshot, TripRequested } from '../../../platform/events/contracts/index.ts';
import { createLogger } from '../../../platform/logger.ts';
import { verifyQuote } from '../../../platform/quote-token.ts';
import { SurgeEngine } from '../../../subgraphs/pricing/surge-engine.ts';
import { sql } from '../../../subgraphs/pricing/surge-store.ts';
import { cellOf } from '../../../subgraphs/pricing/surge.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import type { Stack, TestUser } from '../../support/stack.ts';
import { DROPOFF, estimate, PICKUP, quoteSecret, startPricingStack, TestClock, waitFor } from './support.ts';

const SURGE_MAP = `query SurgeMap($center: LatLngInput!, $radiusM: Int!) {
  surgeMap(center: $center, radiusM: $radiusM) { resolution computedAt cells { h3Index multiplier demand supply center { lat lng } boundary { lat lng } } }
}`;
const MINUTE = 60_000;
/** Tahrir (A), Zamalek (B, 2.4 km away) and Heliopolis (C, 11 km away). */
const A = cellOf(PICKUP);
const B = cellOf(DROPOFF);
const HELIOPOLIS = { lat: 30.0911, lng: 31.3225 };
const C = cellOf(HELIOPOLIS);

describe('surge from trip requests and driver supply', () => {
  // Whole minutes from now: demand timestamps and snapshots are on the same clock as the real events.
  const clock = new TestClock(new Date(Math.ceil(Date.now() / MINUTE) * MINUTE));
  let stack: Stack;
  let rider: TestUser;
  let engine: SurgeEngine;
  const pricingDb = () => stack.subgraph('pricing').db.fork();
  const countOf = async (query: string, params: unknown[] = []) => Number((await sql<{ n: string }>(pricingDb(), query, params))[0].n);
  const cellRow = async (cell: string) => (await sql<{ multiplier: string; target: string; demand: number; supply: number | null }>(pricingDb(), `select "multiplier"::text, "target"::text, "demand", "supply" from "pricing"."surge_cells" where "h3_cell" = ?`, [cell]))[0];

  /** What trips publishes when a rider books (the quote id is what pricing keeps the booked quote by). */
  const requestTrip = (pickup: { lat: number; lng: number }, tripId: string = randomUUID()) =>
    stack.subgraph('trips').runtime.events.publish({
      contract: TripRequested,
      key: tripId,
      data: { tripId, quoteId: randomUUID(), riderId: rider.id, vehicleType: 'ECONOMY', pickup, dropoff: DROPOFF, fareMinor: '2500', currency: 'EGP', paymentMethod: 'CASH', requestedAt: clock.now().toISOString() },
    });
  const snapshot = (cells: Record<string, number>) =>
    stack.subgraph('drivers').runtime.events.publish({ contract: SupplySnapshot, key: 'supply', data: { resolution: 8, takenAt: clock.now().toISOString(), cells } });
  const demandRows = () => countOf(`select count(*) as n from "pricing"."surge_demand"`);
  const surgeMap = (user: TestUser, variables: Record<string, unknown>) => stack.query(SURGE_MAP, variables, { token: user.accessToken });

  before(async () => {
    stack = await startPricingStack(clock, { subgraphs: ['trips', 'drivers', 'pricing'], env: { SUPPLY_SNAPSHOT_INTERVAL_MS: String(3_600_000) } });
    rider = await stack.signUp('RIDER');
    const config = stack.config('pricing');
    engine = new SurgeEngine({ db: stack.subgraph('pricing').db, logger: createLogger(config), intervalMs: MINUTE, supplySnapshotIntervalMs: config.drivers.supplySnapshotIntervalMs, now: clock.now });
  });
  after(() => stack.stop());

  it('counts every trip request once, in the cell of its pickup, from the TripRequested events', async () => {
    const repeated = randomUUID();
    await Promise.all([requestTrip(PICKUP, repeated), requestTrip(PICKUP, repeated), requestTrip(PICKUP), requestTrip({ lat: 30.0446, lng: 31.2359 }), requestTrip(DROPOFF)]);
    await waitFor(async () => ((await demandRows()) === 4 ? true : undefined), 'four trips of demand');
    const byCell = await sql<{ h3_cell: string; n: string }>(pricingDb(), `select "h3_cell", count(*) as n from "pricing"."surge_demand" group by "h3_cell"`);
    assert.deepEqual(Object.fromEntries(byCell.map((row) => [row.h3_cell, Number(row.n)])), { [A]: 3, [B]: 1 });
  });

  it('keeps the supply snapshots drivers publish', async () => {
    await snapshot({ [A]: 2, [B]: 5 });
    await waitFor(async () => ((await countOf(`select count(*) as n from "pricing"."surge_supply" where "taken_at" = ?`, [clock.now()])) === 1 ? true : undefined), 'the snapshot');
  });

  it('recomputes each cell from the step table and moves toward it by 0.20 per minute', async () => {
    clock.advance(MINUTE);
    assert.equal((await engine.recompute()).computed, true);
    assert.deepEqual(await cellRow(A), { multiplier: '1.20', target: '1.30', demand: 3, supply: 2 }, 'ratio 1.5 targets 1.30; the first minute reaches 1.20');
    assert.deepEqual(await cellRow(B), { multiplier: '1.00', target: '1.00', demand: 1, supply: 5 });
    clock.advance(MINUTE);
    await engine.recompute();
    assert.equal((await cellRow(A)).multiplier, '1.30');
  });

  it('prices quotes from the pickup cell with its surge', async () => {
    const [quote] = await estimate(stack, rider, { vehicleTypes: ['ECONOMY'] });
    assert.equal(quote.surgeMultiplier, '1.30');
    assert.deepEqual([verifyQuote(quote.id, quoteSecret(stack))!.h3Cell, verifyQuote(quote.id, quoteSecret(stack))!.surgeMultiplier], [A, '1.30']);
    const [elsewhere] = await estimate(stack, rider, { pickup: DROPOFF, dropoff: PICKUP, vehicleTypes: ['ECONOMY'] });
    assert.equal(elsewhere.surgeMultiplier, '1.00');
  });

  describe('surgeMap', () => {
    it('shows riders the cells around a point, nearest first, with multiplier, demand, supply and shape', async () => {
      const map = dataOf(await surgeMap(rider, { center: PICKUP, radiusM: 3000 })).surgeMap;
      assert.equal(map.resolution, 8);
      assert.equal(Date.parse(map.computedAt), clock.now().getTime());
      assert.equal(map.cells[0].h3Index, A);
      assert.deepEqual([map.cells[0].multiplier, map.cells[0].demand, map.cells[0].supply], ['1.30', 3, 2]);
      const zamalek = map.cells.find((cell: any) => cell.h3Index === B);
      assert.deepEqual([zamalek.multiplier, zamalek.demand, zamalek.supply], ['1.00', 1, 5]);
      const quiet = map.cells.find((cell: any) => cell.h3Index !== A && cell.h3Index !== B);
      assert.deepEqual([quiet.multiplier, quiet.demand, quiet.supply], ['1.00', 0, 0], 'a cell missing from a fresh snapshot has no driver');
      // ~3 km around a point: about π·3²/0.74 ≈ 38 cells, each a hexagon around its centre.
      assert.ok(map.cells.length > 30 && map.cells.length < 50, `${map.cells.length} cells`);
      for (const cell of map.cells) {
        assert.equal(cell.boundary.length, 6);
        assert.equal(cellOf(cell.center), cell.h3Index);
      }
      assert.ok(!map.cells.some((cell: any) => cell.h3Index === C), 'Heliopolis is 11 km away');
    });

    it('shows drivers and admins the same map', async () => {
      const driver = await stack.signUp('DRIVER');
      const admin = await stack.admin();
      for (const user of [driver, admin]) assert.equal(dataOf(await surgeMap(user, { center: PICKUP, radiusM: 500 })).surgeMap.cells[0].multiplier, '1.30');
    });

    it('asks an anonymous caller to authenticate', async () => {
      assertErrorCode(await stack.query(SURGE_MAP, { center: PICKUP, radiusM: 500 }), 'UNAUTHENTICATED');
    });

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['a radius over 10 km', { center: PICKUP, radiusM: 10_001 }, 'radiusM'],
      ['a radius of zero', { center: PICKUP, radiusM: 0 }, 'radiusM'],
      ['a centre latitude above 90', { center: { lat: 91, lng: 31 }, radiusM: 500 }, 'center.lat'],
    ];
    for (const [what, variables, field] of invalid) {
      it(`rejects ${what} with BAD_USER_INPUT`, async () => {
        const result = await surgeMap(rider, variables);
        assertErrorCode(result, 'BAD_USER_INPUT');
        assert.ok(result.body.errors![0].extensions!.fields[field], JSON.stringify(result.body.errors));
      });
    }
  });

  it('holds a raised surge 5 minutes, then lets it fall by 0.20 per minute once demand is gone', async () => {
    const seen: string[] = [];
    for (let minute = 1; minute <= 12; minute++) {
      clock.advance(MINUTE);
      await engine.recompute();
      seen.push((await cellRow(A)).multiplier);
    }
    // Raised to 1.30 at minute 0; demand (requested at minute -2) leaves the 10-minute window at minute 8.
    assert.deepEqual(seen, ['1.30', '1.30', '1.30', '1.30', '1.30', '1.30', '1.30', '1.10', '1.00', '1.00', '1.00', '1.00']);
  });

  it('falls back to 1.00 without supply data, and forgets cells with nothing going on', async () => {
    await requestTrip(PICKUP);
    await waitFor(async () => ((await demandRows()) === 1 ? true : undefined), 'the new request'); // the old ones were pruned
    clock.advance(4 * 3_600_000); // the snapshot is hours old: no supply reading at all
    await Promise.all([requestTrip(PICKUP), requestTrip(PICKUP)]);
    await waitFor(async () => ((await demandRows()) === 3 ? true : undefined), 'two more requests');
    await engine.recompute();
    assert.deepEqual(await cellRow(A), { multiplier: '1.00', target: '1.00', demand: 2, supply: null }, 'demand without a supply reading is no data');
    assert.equal(await cellRow(B), undefined, 'B has neither demand nor supply any more');
  });

  it('prices a cell with demand and no available driver as the top of the table', async () => {
    await snapshot({ [B]: 3 });
    await Promise.all([requestTrip(HELIOPOLIS), requestTrip(HELIOPOLIS)]);
    await waitFor(async () => ((await countOf(`select count(*) as n from "pricing"."surge_demand" where "h3_cell" = ?`, [C])) === 2 ? true : undefined), 'demand in Heliopolis');
    await waitFor(async () => ((await countOf(`select count(*) as n from "pricing"."surge_supply" where "taken_at" = ?`, [clock.now()])) === 1 ? true : undefined), 'the snapshot');
    clock.advance(MINUTE);
    await engine.recompute();
    assert.deepEqual(await cellRow(C), { multiplier: '1.20', target: '2.00', demand: 2, supply: 0 });
  });

  it('lets one replica recompute a tick, however many race for it', async () => {
    clock.advance(MINUTE);
    const config = stack.config('pricing');
    const replicas = Array.from({ length: 8 }, () => new SurgeEngine({ db: stack.subgraph('pricing').db, logger: createLogger(config), intervalMs: MINUTE, supplySnapshotIntervalMs: config.drivers.supplySnapshotIntervalMs, now: clock.now }));
    const results = await Promise.all(replicas.map((replica) => replica.recompute()));
    assert.equal(results.filter((result) => result.computed).length, 1);
    assert.equal((await cellRow(C)).multiplier, '1.40', 'one step of 0.20, not eight');
  });
});
