import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDemoCity, DEMO_PASSWORD } from '../../../platform/demo-city.ts';
import { createLogger } from '../../../platform/logger.ts';
import { loadQuoteSigningSecret, verifyQuote } from '../../../platform/quote-token.ts';
import { accountsSubgraph } from '../../../subgraphs/accounts/index.ts';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import { tripsSubgraph } from '../../../subgraphs/trips/index.ts';
import { dataOf } from '../../support/client.ts';
import { startStack, type Stack } from '../../support/stack.ts';

const LOG_IN = `mutation($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }`;
const MY_TRIPS = `query { myTrips(first: 100) { edges { node { id status quote { id } fare { amount currency } driver { id } } } } }`;

describe('trips demo seed', () => {
  let stack: Stack;
  const city = buildDemoCity();

  before(async () => {
    stack = await startStack({ subgraphs: ['trips'] });
    await accountsSubgraph.seedDemo!(stack.subgraph('accounts').runtime, city);
    await tripsSubgraph.seedDemo!(stack.subgraph('trips').runtime, city);
  });
  after(() => stack?.stop());

  const logIn = async (phone: string) => dataOf(await stack.query(LOG_IN, { phone, password: DEMO_PASSWORD })).logIn.accessToken as string;

  it('writes every demo trip once, with its status and driver, however often it runs', async () => {
    await tripsSubgraph.seedDemo!(stack.subgraph('trips').runtime, city);
    const rows = await stack.subgraph('trips').db.fork().find(Trip, {});
    assert.equal(rows.length, city.trips.length);
    for (const trip of city.trips) {
      const row = rows.find((r) => r.id === trip.id)!;
      assert.equal(row.status, trip.status);
      assert.equal(row.driverId, trip.driverId);
      assert.equal(row.driverUserId, city.drivers.find((d) => d.id === trip.driverId)?.userId ?? null);
      assert.equal(row.fareMinor, trip.fareMinor);
    }
  });

  it('signs each demo trip a quote for its own claims, valid for ten minutes from the request', async () => {
    const config = stack.config('trips');
    const secret = loadQuoteSigningSecret(config, createLogger(config));
    const rows = await stack.subgraph('trips').db.fork().find(Trip, {});
    for (const trip of city.trips) {
      const claims = verifyQuote(rows.find((r) => r.id === trip.id)!.quoteToken, secret);
      assert.ok(claims, `the quote of ${trip.id} verifies`);
      assert.equal(claims.quoteId, trip.quoteId);
      assert.equal(claims.riderId, trip.riderId);
      assert.equal(claims.fareMinor, trip.fareMinor.toString());
      assert.equal(claims.currency, 'EGP');
      assert.equal(claims.expiresAt, trip.requestedAt.getTime() + 10 * 60_000);
    }
  });

  it('shows a demo rider their trips, newest first', async () => {
    const rider = city.riders[0];
    const { myTrips } = dataOf(await stack.query(MY_TRIPS, {}, { token: await logIn(rider.phone) }));
    const expected = city.trips.filter((t) => t.riderId === rider.id).sort((a, b) => b.requestedAt.getTime() - a.requestedAt.getTime());
    assert.deepEqual(myTrips.edges.map((e: any) => e.node.id), expected.map((t) => t.id));
  });

  it('shows a demo driver the trips assigned to them', async () => {
    const assigned = city.trips.find((t) => t.driverId)!;
    const driver = city.drivers.find((d) => d.id === assigned.driverId)!;
    const phone = city.driverUsers.find((u) => u.id === driver.userId)!.phone;
    const { myTrips } = dataOf(await stack.query(MY_TRIPS, {}, { token: await logIn(phone) }));
    const ids = myTrips.edges.map((e: any) => e.node.id);
    assert.deepEqual(new Set(ids), new Set(city.trips.filter((t) => t.driverId === driver.id).map((t) => t.id)));
    assert.ok(myTrips.edges.every((e: any) => e.node.driver.id === driver.id));
  });
});
