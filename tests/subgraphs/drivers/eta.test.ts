import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createStraightLineRoutingProvider } from '../../../platform/routing.ts';
import { transitionDriver } from '../../../subgraphs/drivers/availability.ts';
import type { NearbyQuery } from '../../../subgraphs/drivers/live/store.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { isoAgo, offset, startLiveStack, type LiveStack, type OnlineDriver } from './live-stack.ts';

const GIZA = { lat: 29.9773, lng: 31.1325 };
const FARES = `query($p: LatLngInput!, $d: LatLngInput!) { fareEstimates(pickup: $p, dropoff: $d) { vehicleType pickupEtaS } }`;
const BATCH = `mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`;

describe('Quote.pickupEtaS (drivers extends pricing’s quotes)', () => {
  let stack: LiveStack;
  const pickup = GIZA;
  const dropoff = offset(GIZA, 4000, 3000);
  const economyAt = offset(GIZA, 1000, 0);
  let lookups: NearbyQuery[] = [];

  const driverAt = async (type: string, point: { lat: number; lng: number }, secondsAgo = 1): Promise<OnlineDriver> => {
    const driver = await stack.onlineDriver({ type });
    dataOf(await stack.queryDrivers(BATCH, { b: [{ ...point, accuracyM: 5, recordedAt: isoAgo(Date.now(), secondsAgo) }] }, driver.token));
    return driver;
  };

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0, supplySnapshots: false }, { pricing: true });
    await driverAt('ECONOMY', economyAt);
    await driverAt('ECONOMY', offset(GIZA, 3000, 0)); // further: not the nearest
    const offered = await driverAt('COMFORT', offset(GIZA, 300, 0)); // near, but offered a trip
    await transitionDriver(stack.live.store, (await stack.live.directory.byId(offered.driverId))!, 'OFFERED', Date.now());
    await driverAt('PREMIUM', offset(GIZA, 8500, 0)); // beyond 8 km
    await driverAt('XL', offset(GIZA, 200, 0), 90); // its only fix is stale: never live
    const store = stack.live.store;
    const nearby = store.nearby.bind(store);
    store.nearby = (query, freshSince) => {
      lookups.push(query);
      return nearby(query, freshSince);
    };
  });
  after(() => stack.stop());

  it('is the routed time from the nearest fresh AVAILABLE driver of the quote’s type within 8 km, else null, through the router', async () => {
    const rider = await stack.signUp('RIDER');
    lookups = [];
    const quotes = dataOf<any>(await stack.query(FARES, { p: pickup, d: dropoff }, rider.token)).fareEstimates;
    const expected = (await createStraightLineRoutingProvider().estimate(economyAt, pickup)).durationS;
    assert.ok(expected > 0);
    assert.deepEqual(
      Object.fromEntries(quotes.map((quote: any) => [quote.vehicleType, quote.pickupEtaS])),
      { ECONOMY: expected, COMFORT: null, PREMIUM: null, XL: null },
    );
    assert.equal(lookups.length, 4, 'one live lookup per vehicle type');
  });

  it('looks each (pickup, vehicle type) up once per entities request, however many quotes share it', async () => {
    const rider = await stack.signUp('RIDER');
    const types = ['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'];
    // Two fareEstimates answers for one pickup (a retry, say): eight quotes, four questions.
    const representations = [...types, ...types].map((vehicleType, i) => ({ __typename: 'Quote', id: `quote-${i}`, pickup, vehicleType }));
    lookups = [];
    const { _entities: quotes } = dataOf<any>(
      await stack.queryDrivers(`query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Quote { pickupEtaS } } }`, { reps: representations }, rider.token),
    );
    assert.deepEqual(quotes.slice(0, 4), quotes.slice(4));
    assert.equal(lookups.length, 4);
  });

  it('is for signed-in callers, as quotes are', async () => {
    const reference = { __typename: 'Quote', id: 'q1', pickup, vehicleType: 'ECONOMY' };
    const query = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Quote { pickupEtaS } } }`;
    assertErrorCode(await stack.queryDrivers(query, { reps: [reference] }), 'UNAUTHENTICATED');
    const rider = await stack.signUp('RIDER');
    assert.equal(typeof dataOf<any>(await stack.queryDrivers(query, { reps: [reference] }, rider.token))._entities[0].pickupEtaS, 'number');
  });
});
