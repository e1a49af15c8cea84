import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SUBGRAPH_NAMES } from '../../platform/config.ts';
import { buildDemoCity, DEMO_PASSWORD, demoId, type DemoCity } from '../../platform/demo-city.ts';
import { SUBGRAPHS } from '../../subgraphs/index.ts';
import { dataOf } from '../support/client.ts';
import { startStack, type Stack } from '../support/stack.ts';

const MY_TRIPS = `query MyTrips($first: Int!) {
  myTrips(first: $first) {
    edges { node {
      id
      quote { fare { amount currency } }
      driver { vehicle { plate } user { name } }
      rider { name }
      payment { status }
    } }
    pageInfo { hasNextPage }
  }
}`;

/** The demo city plus one rider with 60 completed trips, each with a driver, a quote and a payment. */
function cityWithBusyRider(): DemoCity {
  const city = buildDemoCity();
  const rider = city.riders[0];
  const base = city.trips[0];
  const trips = Array.from({ length: 60 }, (_, i) => {
    const driver = city.drivers[i % city.drivers.length];
    return {
      ...base,
      id: demoId(`batching:trip:${i}`),
      quoteId: demoId(`batching:quote:${i}`),
      riderId: rider.id,
      driverId: driver.id,
      vehicleType: driver.vehicle.type,
      status: 'COMPLETED' as const,
      fareMinor: 2000n + BigInt(i * 50),
      requestedAt: new Date(Date.UTC(2026, 9, 1, 8, i)),
    };
  });
  return { ...city, trips: [...city.trips.filter((trip) => trip.riderId !== rider.id), ...trips] };
}

describe('batching across the supergraph', () => {
  let stack: Stack;
  let token: string;
  const city = cityWithBusyRider();

  before(async () => {
    stack = await startStack();
    for (const name of SUBGRAPH_NAMES) await SUBGRAPHS[name].seedDemo?.(stack.subgraph(name).runtime, city);
    const logIn = dataOf(await stack.query(`mutation { logIn(phone: "${city.riders[0].phone}", password: "${DEMO_PASSWORD}") { accessToken } }`));
    token = logIn.logIn.accessToken;
  });
  after(() => stack.stop());

  async function statementsFor(first: number) {
    await stack.query(MY_TRIPS, { first }, { token }); // warm every cache that is not per request
    stack.resetStatementCount();
    const data = dataOf(await stack.query(MY_TRIPS, { first }, { token }));
    return { statements: stack.statementCount(), edges: data.myTrips.edges };
  }

  it('resolves every hop of a page of trips with data from all five subgraphs', async () => {
    const { edges } = await statementsFor(5);
    assert.equal(edges.length, 5);
    for (const { node } of edges) {
      assert.match(node.quote.fare.amount, /^\d+\.\d{2}$/);
      assert.equal(node.quote.fare.currency, 'EGP');
      assert.match(node.driver.vehicle.plate, /^CAI \d+$/);
      assert.ok(node.driver.user.name.endsWith('Driver'));
      assert.equal(node.rider.name, city.riders[0].name);
      assert.equal(node.payment.status, 'CAPTURED');
    }
  });

  it('costs the same number of SQL statements for 5 trips as for 50', async () => {
    const five = await statementsFor(5);
    const fifty = await statementsFor(50);
    assert.equal(fifty.edges.length, 50);
    assert.equal(fifty.statements, five.statements, `5 trips took ${five.statements} statements, 50 took ${fifty.statements}`);
    assert.ok(five.statements <= 8, `a constant, small number of statements (got ${five.statements})`);
  });
});
