import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDemoCity } from '../../../platform/demo-city.ts';
import { createLogger } from '../../../platform/logger.ts';
import { loadQuoteSigningSecret, signQuote, verifyQuote } from '../../../platform/quote-token.ts';
import { Quote } from '../../../subgraphs/pricing/entities.ts';
import { pricingSubgraph } from '../../../subgraphs/pricing/index.ts';
import { claimsOf } from '../../../subgraphs/pricing/quotes.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';

const FARE_ESTIMATES = `query FareEstimates($pickup: LatLngInput!, $dropoff: LatLngInput!, $vehicleTypes: [VehicleType!]) {
  fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: $vehicleTypes) {
    id vehicleType fare { amount currency }
    breakdown { baseFare { amount currency } distanceFare { amount } timeFare { amount } bookingFee { amount } }
    surgeMultiplier distanceM durationS pickup { lat lng } dropoff { lat lng } expiresAt
  }
}`;
const QUOTE_ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Quote { id vehicleType fare { amount currency } breakdown { distanceFare { amount } } } } }`;

/** Tahrir Square to Zamalek: 2 431 m straight, 3 161 m by the estimated road, 455 s at 25 km/h. */
const PICKUP = { lat: 30.0444, lng: 31.2357 };
const DROPOFF = { lat: 30.0626, lng: 31.2497 };

describe('pricing subgraph', () => {
  let stack: Stack;
  let rider: TestUser;
  let secret: string;
  const quoteRows = (where: Record<string, unknown> = {}) => stack.subgraph('pricing').db.fork().count(Quote, where);
  const estimate = async (user: TestUser, variables: Record<string, unknown> = {}) =>
    dataOf(await stack.query(FARE_ESTIMATES, { pickup: PICKUP, dropoff: DROPOFF, ...variables }, { token: user.accessToken })).fareEstimates;
  const entities = (ids: string[], user: TestUser = rider) =>
    stack.querySubgraph('pricing', QUOTE_ENTITIES, { r: ids.map((id) => ({ __typename: 'Quote', id })) }, { token: user.accessToken });

  before(async () => {
    stack = await startStack({ subgraphs: ['pricing'] });
    rider = await stack.signUp('RIDER');
    const config = stack.config('pricing');
    secret = loadQuoteSigningSecret(config, createLogger(config));
  });
  after(() => stack.stop());

  describe('fare estimates', () => {
    it('quotes all four vehicle types with exact EGP amounts', async () => {
      const quotes = await estimate(rider);
      assert.deepEqual(
        quotes.map((q: any) => [q.vehicleType, q.fare.amount, q.breakdown.baseFare.amount, q.breakdown.distanceFare.amount, q.breakdown.timeFare.amount, q.breakdown.bookingFee.amount]),
        [
          ['ECONOMY', '25.00', '10.00', '11.06', '3.79', '0.00'], // 24.855 → 25.00
          ['COMFORT', '36.50', '15.00', '15.81', '5.69', '0.00'], // 36.4925 → 36.50
          ['PREMIUM', '58.00', '25.00', '25.29', '7.58', '0.00'], // 57.871 → 58.00
          ['XL', '45.00', '20.00', '18.97', '6.07', '0.00'], // 45.033 → 45.00
        ],
      );
      for (const quote of quotes) {
        assert.equal(quote.fare.currency, 'EGP');
        assert.equal(quote.breakdown.baseFare.currency, 'EGP');
        assert.equal(quote.surgeMultiplier, '1.00');
        assert.deepEqual([quote.distanceM, quote.durationS], [3161, 455]);
        assert.deepEqual([quote.pickup, quote.dropoff], [PICKUP, DROPOFF]);
        const ttl = Date.parse(quote.expiresAt) - Date.now();
        assert.ok(ttl > 9 * 60_000 && ttl <= 10 * 60_000, `expires in about 10 minutes, not ${ttl} ms`);
      }
      assert.equal(new Set(quotes.map((q: any) => q.id)).size, 4);
    });

    it('stores every quote of a request in one INSERT statement', async () => {
      const user = await stack.signUp('RIDER');
      stack.resetStatementCount();
      await estimate(user);
      assert.equal(stack.statementCount(), 2, 'one SELECT of the price lists, one INSERT of the quotes');
      assert.equal(await quoteRows({ riderId: user.id }), 4);
    });

    it('quotes only the vehicle types asked for, once each, in the order asked', async () => {
      const quotes = await estimate(rider, { vehicleTypes: ['XL', 'ECONOMY', 'XL'] });
      assert.deepEqual(quotes.map((q: any) => q.vehicleType), ['XL', 'ECONOMY']);
    });

    it('charges the minimum fare for a short trip', async () => {
      const [quote] = await estimate(rider, { dropoff: { lat: 30.0454, lng: 31.2357 }, vehicleTypes: ['PREMIUM'] });
      assert.equal(quote.fare.amount, '40.00');
    });

    it('gives estimates to admins as well as riders', async () => {
      const quotes = await estimate(await stack.admin(), { vehicleTypes: ['COMFORT'] });
      assert.equal(quotes[0].fare.amount, '36.50');
    });

    it('forbids a driver from asking for estimates, and stores nothing', async () => {
      const driver = await stack.signUp('DRIVER');
      assertErrorCode(await stack.query(FARE_ESTIMATES, { pickup: PICKUP, dropoff: DROPOFF }, { token: driver.accessToken }), 'FORBIDDEN');
      assert.equal(await quoteRows({ riderId: driver.id }), 0);
    });

    it('asks an anonymous caller to authenticate', async () => {
      assertErrorCode(await stack.query(FARE_ESTIMATES, { pickup: PICKUP, dropoff: DROPOFF }), 'UNAUTHENTICATED');
    });

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['a pickup latitude above 90', { pickup: { lat: 90.5, lng: 31.2 } }, 'pickup.lat'],
      ['a pickup longitude below -180', { pickup: { lat: 30, lng: -180.01 } }, 'pickup.lng'],
      ['a dropoff latitude below -90', { dropoff: { lat: -91, lng: 31.2 } }, 'dropoff.lat'],
      ['a dropoff longitude above 180', { dropoff: { lat: 30, lng: 181 } }, 'dropoff.lng'],
      ['a dropoff under 100 m from the pickup', { dropoff: { lat: 30.0444, lng: 31.2363 } }, 'dropoff'],
      ['a dropoff over 100 km from the pickup', { dropoff: { lat: 31.2001, lng: 29.9187 } }, 'dropoff'],
      ['an empty list of vehicle types', { vehicleTypes: [] }, 'vehicleTypes'],
    ];
    for (const [what, variables, field] of invalid) {
      it(`rejects ${what} with BAD_USER_INPUT and stores no quote`, async () => {
        const user = await stack.signUp('RIDER');
        const result = await stack.query(FARE_ESTIMATES, { pickup: PICKUP, dropoff: DROPOFF, ...variables }, { token: user.accessToken });
        assertErrorCode(result, 'BAD_USER_INPUT');
        assert.ok(result.body.errors![0].extensions!.fields[field], `names ${field}: ${JSON.stringify(result.body.errors)}`);
        assert.equal(await quoteRows({ riderId: user.id }), 0);
      });
    }
  });

  describe('quote ids', () => {
    it('signs the quote id with the stored fare, rider and route', async () => {
      const [quote] = await estimate(rider, { vehicleTypes: ['COMFORT'] });
      const claims = verifyQuote(quote.id, secret);
      assert.ok(claims, 'the id verifies with the shared quote signing secret');
      const stored = await stack.subgraph('pricing').db.fork().findOneOrFail(Quote, { id: claims.quoteId });
      assert.equal(claims.fareMinor, '3650');
      assert.equal(claims.fareMinor, stored.fareMinor.toString());
      assert.deepEqual(
        { riderId: claims.riderId, vehicleType: claims.vehicleType, currency: claims.currency, distanceM: claims.distanceM, durationS: claims.durationS, pickup: claims.pickup, dropoff: claims.dropoff },
        { riderId: rider.id, vehicleType: 'COMFORT', currency: 'EGP', distanceM: 3161, durationS: 455, pickup: PICKUP, dropoff: DROPOFF },
      );
      assert.equal(claims.expiresAt, stored.expiresAt.getTime());
      assert.equal(new Date(claims.expiresAt).toISOString(), quote.expiresAt);
    });

    it('resolves a quote id through _entities to the stored quote', async () => {
      const [quote] = await estimate(rider, { vehicleTypes: ['XL'] });
      const resolved = dataOf(await entities([quote.id]))._entities;
      assert.deepEqual(resolved, [{ id: quote.id, vehicleType: 'XL', fare: { amount: '45.00', currency: 'EGP' }, breakdown: { distanceFare: { amount: '18.97' } } }]);
    });

    it('resolves a tampered, forged or unknown quote id to null', async () => {
      const [quote] = await estimate(rider, { vehicleTypes: ['ECONOMY'] });
      const [payload, signature] = quote.id.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      const cheaper = `${Buffer.from(JSON.stringify({ ...claims, fareMinor: '100' })).toString('base64url')}.${signature}`;
      const foreign = signQuote(claims, 'a-secret-that-is-not-pricings-own-secret');
      const unknown = signQuote({ ...claims, quoteId: '00000000-0000-4000-8000-000000000000' }, secret);
      const notUuid = signQuote({ ...claims, quoteId: 'nope' }, secret);
      const resolved = dataOf(await entities([cheaper, quote.id, foreign, unknown, notUuid, 'garbage', `${quote.id}x`]))._entities;
      assert.deepEqual(resolved.map((q: any) => q?.fare.amount ?? null), [null, '25.00', null, null, null, null, null]);
    });

    it('resolves many quote ids in one SQL statement', async () => {
      const quotes = await estimate(rider);
      stack.resetStatementCount();
      const resolved = dataOf(await entities(quotes.map((q: any) => q.id)))._entities;
      assert.deepEqual(resolved.map((q: any) => q.fare.amount), ['25.00', '36.50', '58.00', '45.00']);
      assert.equal(stack.statementCount(), 1);
    });

    it('shows a quote to any signed-in caller holding its id, and to no anonymous one', async () => {
      const [quote] = await estimate(rider, { vehicleTypes: ['ECONOMY'] });
      const driver = await stack.signUp('DRIVER');
      assert.equal(dataOf(await entities([quote.id], driver))._entities[0].fare.amount, '25.00');
      const anonymous = await stack.querySubgraph('pricing', QUOTE_ENTITIES, { r: [{ __typename: 'Quote', id: quote.id }] });
      assertErrorCode(anonymous, 'UNAUTHENTICATED');
    });
  });

  describe('demo city', () => {
    it('stores the quote behind every demo trip, once, with a breakdown that sums to its fare', async () => {
      const city = buildDemoCity();
      const runtime = stack.subgraph('pricing').runtime;
      await pricingSubgraph.seedDemo!(runtime, city);
      await pricingSubgraph.seedDemo!(runtime, city);
      const ids = city.trips.map((trip) => trip.quoteId);
      const rows = await stack.subgraph('pricing').db.fork().find(Quote, { id: { $in: ids } });
      assert.equal(rows.length, city.trips.length);
      for (const trip of city.trips) {
        const row = rows.find((r) => r.id === trip.quoteId)!;
        assert.equal(row.fareMinor, trip.fareMinor);
        assert.equal(row.baseFareMinor + row.distanceFareMinor + row.timeFareMinor + row.bookingFeeMinor, trip.fareMinor);
        assert.deepEqual([row.riderId, row.vehicleType, row.distanceM, row.durationS], [trip.riderId, trip.vehicleType, trip.distanceM, trip.durationS]);
        assert.equal(row.expiresAt.getTime(), trip.requestedAt.getTime() + 10 * 60_000);
      }
      // trips signs the same claims for Trip.quote; they resolve here.
      const [trip] = city.trips;
      const token = signQuote(claimsOf(rows.find((r) => r.id === trip.quoteId)!), secret);
      const [resolved] = dataOf(await entities([token]))._entities;
      assert.equal(resolved.fare.amount, (Number(trip.fareMinor) / 100).toFixed(2));
    });
  });
});
