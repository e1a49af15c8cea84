import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SUBGRAPH_NAMES } from '../../platform/config.ts';
import { buildDemoCity, DEMO_PASSWORD, type DemoCity, type DemoTrip } from '../../platform/demo-city.ts';
import { SUBGRAPHS } from '../../subgraphs/index.ts';
import { ACTIVE_TRIP_STATUSES, Trip } from '../../subgraphs/trips/entities.ts';
import { describeCheck, Ledger } from '../../subgraphs/wallet/ledger/index.ts';
import { paymentOf } from '../../subgraphs/wallet/trip-ledger.ts';
import { dataOf } from '../support/client.ts';
import { startStack, type Stack } from '../support/stack.ts';

const LOG_IN = `mutation($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }`;
const FARE_ESTIMATES = `query($pickup: LatLngInput!, $dropoff: LatLngInput!) { fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: [ECONOMY]) { id } }`;
const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id status } }`;

/** Earlier versions left the latest trip of these riders (by index) active. */
const ACTIVE_IN_OLDER_VERSIONS: Record<number, string> = { 0: 'IN_PROGRESS', 1: 'DRIVER_ASSIGNED', 2: 'REQUESTED', 7: 'IN_PROGRESS', 8: 'DRIVER_ASSIGNED', 9: 'REQUESTED' };

/** The demo city as earlier versions described it: six active trips, and no step times (they wrote none). */
function olderCity(city: DemoCity): DemoCity {
  const active = new Map(city.riders.flatMap((rider, r) => (ACTIVE_IN_OLDER_VERSIONS[r] ? [[city.trips.filter((trip) => trip.riderId === rider.id).at(-1)!.id, ACTIVE_IN_OLDER_VERSIONS[r]]] : [])));
  const unfinished = (trip: DemoTrip, status: string): DemoTrip =>
    ({ ...trip, status, assignedAt: null, arrivedAt: null, startedAt: null, completedAt: null, cancelledAt: null, cancellation: null }) as unknown as DemoTrip;
  return { ...city, trips: city.trips.map((trip) => (active.has(trip.id) ? unfinished(trip, active.get(trip.id)!) : trip)) };
}

describe('the demo city', () => {
  let stack: Stack;
  const city = buildDemoCity();
  const older = olderCity(city);
  const seed = async (description: DemoCity) => {
    for (const name of SUBGRAPH_NAMES) await SUBGRAPHS[name].seedDemo?.(stack.subgraph(name).runtime, description);
  };

  let activeBefore = 0;

  before(async () => {
    stack = await startStack();
    // A data directory an earlier version seeded, then today's seed over it (what `npm start` does on it).
    await seed(older);
    activeBefore = await stack.subgraph('trips').db.fork().count(Trip, { status: { $in: [...ACTIVE_TRIP_STATUSES] } });
    await seed(city);
    await seed(city);
  });
  after(() => stack?.stop());

  it('has only finished trips, each with the times of the steps it reached', async () => {
    assert.equal(activeBefore, 6, 'the older seed left six active trips');
    const rows = await stack.subgraph('trips').db.fork().find(Trip, {});
    assert.equal(rows.length, city.trips.length);
    for (const trip of city.trips) {
      const row = rows.find((r) => r.id === trip.id)!;
      assert.ok(['COMPLETED', 'CANCELLED'].includes(row.status), `${trip.id} is ${row.status}`);
      assert.deepEqual(
        [row.status, row.driverId, row.assignedAt, row.arrivedAt, row.startedAt, row.completedAt, row.cancelledAt, row.cancelledBy, row.nextDispatchAt],
        [trip.status, trip.driverId, trip.assignedAt, trip.arrivedAt, trip.startedAt, trip.completedAt, trip.cancelledAt, trip.cancellation?.by ?? null, null],
      );
      if (row.status === 'CANCELLED') assert.equal(row.cancellationFeeMinor, 0n);
      if (row.status === 'COMPLETED') assert.ok(row.driverId && row.startedAt! < row.completedAt!);
    }
    const outcomes = new Set(city.trips.map((trip) => trip.cancellation?.by ?? trip.status));
    assert.deepEqual([...outcomes].sort(), ['COMPLETED', 'DRIVER', 'RIDER', 'SYSTEM']);
  });

  it("keeps drivers' trip records and wallet payments in step with the trips", async () => {
    const matched = city.trips.filter((trip) => trip.driverId);
    const records = await stack.subgraph('drivers').db.fork().getConnection().execute(`select "trip_id", "outcome", "ended_at" from "drivers"."driver_trips"`);
    assert.equal(records.length, matched.length);
    for (const trip of matched) {
      const record = records.find((r: any) => r.trip_id === trip.id);
      assert.equal(record?.outcome, trip.status, `driver_trips of ${trip.id}`);
    }
    const [stats] = await stack.subgraph('drivers').db.fork().getConnection().execute(`select count(*)::int as "drivers", sum("offers_accepted")::int as "accepted" from "drivers"."driver_stats"`);
    assert.deepEqual(stats, { drivers: city.drivers.length, accepted: matched.length });
    // The wallet's history is ledger transfers: every completed trip paid once, the ledger balanced.
    const ledger = new Ledger(stack.subgraph('wallet').db);
    try {
      const transfers = await ledger.transfersByReferences(city.trips.map((trip) => trip.id));
      const captured = city.trips.filter((trip) => paymentOf(trip.id, transfers.filter((t) => t.reference === trip.id))?.status === 'CAPTURED');
      assert.deepEqual(captured.map((trip) => trip.id).sort(), city.trips.filter((t) => t.status === 'COMPLETED').map((t) => t.id).sort());
      const check = await ledger.checkBalanced();
      assert.ok(check.balanced, describeCheck(check));
    } finally {
      await ledger.close();
    }
  });

  it('shows no demo driver on a trip', async () => {
    const admin = await stack.admin();
    const onTrips: unknown[] = [];
    // 20 drivers per query: the router allows 30 aliases in one operation.
    for (let start = 0; start < city.drivers.length; start += 20) {
      const fields = city.drivers.slice(start, start + 20).map((driver, i) => `d${i}: driver(id: "${driver.id}") { currentTrip { id } }`).join(' ');
      const data = dataOf<Record<string, { currentTrip: unknown }>>(await stack.query(`query { ${fields} }`, {}, { token: admin.accessToken }));
      onTrips.push(...Object.values(data).filter((driver) => driver.currentTrip !== null));
    }
    assert.deepEqual(onTrips, []);
  });

  it('lets every demo rider request a trip', async () => {
    for (const [i, rider] of city.riders.entries()) {
      const token = dataOf(await stack.query(LOG_IN, { phone: rider.phone, password: DEMO_PASSWORD })).logIn.accessToken;
      const pickup = { lat: 30.0444 + i * 0.002, lng: 31.2357 };
      const [quote] = dataOf(await stack.query(FARE_ESTIMATES, { pickup, dropoff: { lat: pickup.lat + 0.02, lng: pickup.lng + 0.01 } }, { token })).fareEstimates;
      const booked = await stack.query(REQUEST, { input: { quoteId: quote.id, paymentMethod: 'CASH' }, key: `demo-city-${i}` }, { token });
      assert.equal(dataOf(booked).requestTrip.status, 'REQUESTED', `${rider.phone} can book`);
    }
  });
});
