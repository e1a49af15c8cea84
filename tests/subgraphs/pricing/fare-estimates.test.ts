import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { latLngToCell } from 'h3-js';
import { buildDemoCity } from '../../../platform/demo-city.ts';
import { signQuote, verifyQuote } from '../../../platform/quote-token.ts';
import { FareRule, Quote } from '../../../subgraphs/pricing/entities.ts';
import { pricingSubgraph, QUOTE_REDIS_GRACE_SECONDS } from '../../../subgraphs/pricing/index.ts';
import { claimsOf } from '../../../subgraphs/pricing/quotes.ts';
import { sql } from '../../../subgraphs/pricing/surge-store.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import type { Stack, TestUser } from '../../support/stack.ts';
import { breakdownTotal, cairoJanuary, DROPOFF, estimate, FARE_ESTIMATES, PICKUP, quoteKey, quoteSecret, redisQuotes, startPricingStack, TestClock } from './support.ts';

const QUOTE_ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Quote { id vehicleType fare { amount currency } breakdown { distanceFare { amount } } } } }`;
const OFF_PEAK = cairoJanuary(4, '12:00'); // a Sunday noon: no time-of-day multiplier, 25 km/h
const usesRedis = Boolean(process.env.REDIS_URL);

describe('pricing subgraph', () => {
  const clock = new TestClock(OFF_PEAK);
  let stack: Stack;
  let rider: TestUser;
  let secret: string;
  const pricingDb = () => stack.subgraph('pricing').db.fork();
  /** Quotes issued to a user, wherever this run mode keeps them. */
  const storedQuotesOf = async (userId: string) => (usesRedis ? (await redisQuotes(stack)).filter((q) => q.riderId === userId).length : await pricingDb().count(Quote, { riderId: userId }));
  const storedQuote = async (quoteId: string) => (usesRedis ? (await redisQuotes(stack)).find((q) => q.id === quoteId) : await pricingDb().findOne(Quote, { id: quoteId }));
  const entities = (ids: string[], user: TestUser = rider) => stack.querySubgraph('pricing', QUOTE_ENTITIES, { r: ids.map((id) => ({ __typename: 'Quote', id })) }, { token: user.accessToken });

  before(async () => {
    stack = await startPricingStack(clock);
    rider = await stack.signUp('RIDER');
    secret = quoteSecret(stack);
  });
  after(() => stack.stop());
  beforeEach(() => clock.set(OFF_PEAK));

  describe('fare estimates', () => {
    it('quotes all four vehicle types with exact EGP amounts off-peak', async () => {
      const quotes = await estimate(stack, rider);
      assert.deepEqual(
        quotes.map((q: any) => [q.vehicleType, q.fare.amount, q.breakdown.baseFare.amount, q.breakdown.distanceFare.amount, q.breakdown.timeFare.amount, q.breakdown.rounding.amount, q.cancellationFee.amount]),
        [
          ['ECONOMY', '25.00', '10.00', '11.06', '3.79', '0.15'], // 24.855 → 25.00
          ['COMFORT', '36.50', '15.00', '15.81', '5.69', '0.00'], // 36.4925 → 36.50
          ['PREMIUM', '58.00', '25.00', '25.29', '7.58', '0.13'], // 57.871 → 58.00
          ['XL', '45.00', '20.00', '18.97', '6.07', '-0.04'], // 45.033 → 45.00
        ].map(([type, fare, base, distance, time, rounding], i) => [type, fare, base, distance, time, rounding, ['10.00', '15.00', '25.00', '20.00'][i]]),
      );
      for (const quote of quotes) {
        assert.equal(quote.fare.currency, 'EGP');
        assert.equal(quote.breakdown.baseFare.currency, 'EGP');
        assert.deepEqual([quote.surgeMultiplier, quote.timeOfDayMultiplier], ['1.00', '1.00']);
        assert.deepEqual([quote.breakdown.minimumFareTopUp.amount, quote.breakdown.timeOfDayAmount.amount, quote.breakdown.surgeAmount.amount, quote.breakdown.bookingFee.amount], ['0.00', '0.00', '0.00', '0.00']);
        assert.deepEqual([quote.distanceM, quote.durationS], [3161, 455]);
        assert.deepEqual([quote.pickup, quote.dropoff], [PICKUP, DROPOFF]);
        assert.equal(Date.parse(quote.expiresAt) - OFF_PEAK.getTime(), 10 * 60_000, 'expires ten minutes after it was issued');
      }
      assert.equal(new Set(quotes.map((q: any) => q.id)).size, 4);
    });

    it('charges the evening rush multiplier and drives at rush-hour speed on a Thursday at 17:00', async () => {
      clock.set(cairoJanuary(8, '17:00'));
      const quotes = await estimate(stack, rider);
      assert.deepEqual(
        quotes.map((q: any) => [q.vehicleType, q.fare.amount, q.timeOfDayMultiplier, q.breakdown.timeOfDayAmount.amount, q.durationS]),
        [
          ['ECONOMY', '34.00', '1.30', '7.90', 632], // 26.3302 × 1.30 = 34.229 → 34.00
          ['COMFORT', '50.50', '1.30', '11.61', 632],
          ['PREMIUM', '79.00', '1.30', '18.25', 632],
          ['XL', '61.50', '1.30', '14.22', 632],
        ],
      );
    });

    it('includes the surge of the pickup cell, as a multiplier and a line', async () => {
      const cell = latLngToCell(PICKUP.lat, PICKUP.lng, 8);
      await sql(pricingDb(), `insert into "pricing"."surge_cells" values (?, 1.50, 1.50, 9, 6, ?, ?, ?)`, [cell, OFF_PEAK, OFF_PEAK, OFF_PEAK]);
      try {
        const quotes = await estimate(stack, rider);
        assert.deepEqual(
          quotes.map((q: any) => [q.vehicleType, q.fare.amount, q.surgeMultiplier, q.breakdown.surgeAmount.amount]),
          [
            ['ECONOMY', '37.50', '1.50', '12.43'], // 24.855 × 1.5 = 37.2825 → 37.50
            ['COMFORT', '54.50', '1.50', '18.25'],
            ['PREMIUM', '87.00', '1.50', '28.94'],
            ['XL', '67.50', '1.50', '22.52'],
          ],
        );
        assert.equal(verifyQuote(quotes[0].id, secret)!.surgeMultiplier, '1.50');
      } finally {
        await sql(pricingDb(), `delete from "pricing"."surge_cells"`);
      }
    });

    it('makes every breakdown add up to its fare, at any hour and surge', async () => {
      const cell = latLngToCell(PICKUP.lat, PICKUP.lng, 8);
      await sql(pricingDb(), `insert into "pricing"."surge_cells" values (?, 1.37, 1.37, 9, 6, ?, ?, ?)`, [cell, OFF_PEAK, OFF_PEAK, OFF_PEAK]);
      try {
        for (const at of [cairoJanuary(4, '08:00'), cairoJanuary(9, '23:30'), cairoJanuary(10, '04:00'), OFF_PEAK]) {
          clock.set(at);
          for (const dropoff of [DROPOFF, { lat: 30.0454, lng: 31.2357 }, { lat: 30.1, lng: 31.4 }]) {
            for (const quote of await estimate(stack, rider, { dropoff })) {
              assert.equal(breakdownTotal(quote).toString(), (BigInt(quote.fare.amount.replace('.', ''))).toString(), `${quote.vehicleType} at ${at.toISOString()}`);
            }
          }
        }
      } finally {
        await sql(pricingDb(), `delete from "pricing"."surge_cells"`);
      }
    });

    it('charges the minimum fare for a short trip, showing the top-up', async () => {
      const [quote] = await estimate(stack, rider, { dropoff: { lat: 30.0454, lng: 31.2357 }, vehicleTypes: ['PREMIUM'] });
      assert.equal(quote.fare.amount, '40.00');
      // 145 m in 21 s: 25.00 + 1.16 + 0.35 = 26.51 metered; the minimum tops it up by 13.49
      assert.deepEqual([quote.distanceM, quote.durationS, quote.breakdown.minimumFareTopUp.amount, quote.breakdown.rounding.amount], [145, 21, '13.49', '0.00']);
    });

    it('does not use a fare rule before its effective date, and uses it from then on', async () => {
      const em = pricingDb();
      const effectiveFrom = new Date(OFF_PEAK.getTime() + 3_600_000);
      const rule = em.create(FareRule, { id: randomUUID(), vehicleType: 'ECONOMY', currency: 'EGP', baseMinor: 2000n, perKmMinor: 350n, perMinMinor: 50n, minimumMinor: 1500n, bookingFeeMinor: 0n, cancellationFeeMinor: 1200n, commissionBps: 1600, effectiveFrom });
      await em.flush();
      try {
        clock.set(new Date(effectiveFrom.getTime() - 1));
        const [before] = await estimate(stack, rider, { vehicleTypes: ['ECONOMY'] });
        assert.deepEqual([before.fare.amount, before.cancellationFee.amount, verifyQuote(before.id, secret)!.commissionBps], ['25.00', '10.00', 1500]);
        clock.set(effectiveFrom);
        const [after] = await estimate(stack, rider, { vehicleTypes: ['ECONOMY'] });
        assert.deepEqual([after.fare.amount, after.cancellationFee.amount, verifyQuote(after.id, secret)!.commissionBps], ['35.00', '12.00', 1600]);
      } finally {
        await em.nativeDelete(Quote, { fareRuleId: rule.id }); // embedded mode keeps every quote in Postgres
        await em.nativeDelete(FareRule, { id: rule.id });
        clock.advance(3_600_000); // the next estimate reloads the price lists
      }
    });

    it('prices a request with one SQL statement, the surge lookup, and stores its quotes in one write', async () => {
      await estimate(stack, rider); // price lists loaded
      const user = await stack.signUp('RIDER');
      stack.resetStatementCount();
      await estimate(stack, user);
      assert.equal(stack.statementCount(), usesRedis ? 1 : 2, usesRedis ? 'quotes go to Redis' : 'plus one INSERT of the quotes');
      assert.equal(await storedQuotesOf(user.id), 4);
    });

    it('quotes only the vehicle types asked for, once each, in the order asked', async () => {
      const quotes = await estimate(stack, rider, { vehicleTypes: ['XL', 'ECONOMY', 'XL'] });
      assert.deepEqual(quotes.map((q: any) => q.vehicleType), ['XL', 'ECONOMY']);
    });

    it('gives estimates to admins as well as riders', async () => {
      const quotes = await estimate(stack, await stack.admin(), { vehicleTypes: ['COMFORT'] });
      assert.equal(quotes[0].fare.amount, '36.50');
    });

    it('forbids a driver from asking for estimates, and stores nothing', async () => {
      const driver = await stack.signUp('DRIVER');
      assertErrorCode(await stack.query(FARE_ESTIMATES, { pickup: PICKUP, dropoff: DROPOFF }, { token: driver.accessToken }), 'FORBIDDEN');
      assert.equal(await storedQuotesOf(driver.id), 0);
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
        assert.equal(await storedQuotesOf(user.id), 0);
      });
    }
  });

  describe('quote ids', () => {
    it('signs the quote id with the stored fare, rider, route and what trips needs', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['COMFORT'] });
      const claims = verifyQuote(quote.id, secret);
      assert.ok(claims, 'the id verifies with the shared quote signing secret');
      assert.equal(claims.fareMinor, '3650');
      const stored = await storedQuote(claims.quoteId);
      assert.equal(stored?.fareMinor, 3650n, 'the token and the stored quote agree');
      assert.deepEqual(
        {
          riderId: claims.riderId, vehicleType: claims.vehicleType, currency: claims.currency, distanceM: claims.distanceM, durationS: claims.durationS, pickup: claims.pickup, dropoff: claims.dropoff,
          commissionBps: claims.commissionBps, cancellationFeeMinor: claims.cancellationFeeMinor, surgeMultiplier: claims.surgeMultiplier, h3Cell: claims.h3Cell, expiresAt: claims.expiresAt,
        },
        {
          riderId: rider.id, vehicleType: 'COMFORT', currency: 'EGP', distanceM: 3161, durationS: 455, pickup: PICKUP, dropoff: DROPOFF,
          commissionBps: 1800, cancellationFeeMinor: '1500', surgeMultiplier: '1.00', h3Cell: latLngToCell(PICKUP.lat, PICKUP.lng, 8), expiresAt: OFF_PEAK.getTime() + 600_000,
        },
      );
    });

    it('resolves a quote reference to the stored quote', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['ECONOMY'] });
      const [resolved] = dataOf(await entities([quote.id]))._entities;
      assert.deepEqual([resolved.id, resolved.vehicleType, resolved.fare.amount, resolved.breakdown.distanceFare.amount], [quote.id, 'ECONOMY', '25.00', '11.06']);
    });

    it('answers NOT_FOUND for a tampered, foreign or malformed id, each on its own entry; an unknown id of ours shows what it signs', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['ECONOMY'] });
      const [payload, signature] = quote.id.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      const cheaper = `${Buffer.from(JSON.stringify({ ...claims, fareMinor: '100' })).toString('base64url')}.${signature}`;
      const foreign = signQuote(claims, 'a-secret-that-is-not-pricings-own-secret');
      const unknown = signQuote({ ...claims, quoteId: '00000000-0000-4000-8000-000000000000' }, secret);
      const { breakdown: _breakdown, ...partial } = claims;
      const unknownPartial = signQuote({ ...partial, quoteId: '00000000-0000-4000-8000-000000000001' }, secret);
      const notUuid = signQuote({ ...claims, quoteId: 'nope' }, secret);
      const result = await entities([cheaper, quote.id, foreign, unknown, unknownPartial, notUuid, 'garbage', `${quote.id}x`]);
      assert.deepEqual(result.body.data?._entities.map((q: any) => q?.fare.amount ?? null), [null, '25.00', null, '25.00', null, null, null, null]);
      assert.deepEqual(
        result.body.errors?.map((error) => [error.path?.join('.'), error.extensions?.code, error.extensions?.reason]).sort(),
        [
          ['_entities.0', 'NOT_FOUND', 'INVALID'],
          ['_entities.2', 'NOT_FOUND', 'INVALID'],
          ['_entities.4', 'NOT_FOUND', 'NOT_STORED'],
          ['_entities.5', 'NOT_FOUND', 'INVALID'],
          ['_entities.6', 'NOT_FOUND', 'INVALID'],
          ['_entities.7', 'NOT_FOUND', 'INVALID'],
        ],
      );
    });

    it('resolves many quote ids in one batch: one MGET with Redis, one SELECT without', async () => {
      const quotes = await estimate(stack, rider);
      stack.resetStatementCount();
      const resolved = dataOf(await entities(quotes.map((q: any) => q.id)))._entities;
      assert.deepEqual(resolved.map((q: any) => q.fare.amount), ['25.00', '36.50', '58.00', '45.00']);
      assert.equal(stack.statementCount(), usesRedis ? 0 : 1);
    });

    it('shows a quote to any signed-in caller holding its id, and to no anonymous one', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['ECONOMY'] });
      const driver = await stack.signUp('DRIVER');
      assert.equal(dataOf(await entities([quote.id], driver))._entities[0].fare.amount, '25.00');
      const anonymous = await stack.querySubgraph('pricing', QUOTE_ENTITIES, { r: [{ __typename: 'Quote', id: quote.id }] });
      assertErrorCode(anonymous, 'UNAUTHENTICATED');
    });
  });

  describe('quote storage with Redis', { skip: !usesRedis && 'REDIS_URL is not set' }, () => {
    it('keeps each quote in Redis under the stack’s namespace, expiring after its validity plus a grace', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['XL'] });
      const { quoteId } = verifyQuote(quote.id, secret)!;
      const redis = stack.subgraph('pricing').redis!;
      const ttl = await redis.ttl(quoteKey(stack, quoteId));
      assert.ok(ttl > 600 + QUOTE_REDIS_GRACE_SECONDS - 10 && ttl <= 600 + QUOTE_REDIS_GRACE_SECONDS, `TTL ${ttl} s`);
      assert.equal(await pricingDb().count(Quote, { id: quoteId }), 0, 'not in Postgres until booked');
    });

    it('resolves an unbooked quote gone from Redis from its signed id, and a pre-claims id no longer', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['XL'] });
      const claims = verifyQuote(quote.id, secret)!;
      const { breakdown: _breakdown, timeOfDayMultiplier: _timeOfDay, fareRuleId: _fareRuleId, issuedAt: _issuedAt, ...legacy } = claims;
      const legacyId = signQuote(legacy, secret);
      assert.equal(dataOf(await entities([legacyId]))._entities[0].fare.amount, quote.fare.amount, 'stored: shown whatever the id carries');
      await stack.subgraph('pricing').redis!.del(quoteKey(stack, claims.quoteId));
      const result = await entities([quote.id, legacyId]);
      assert.deepEqual(result.body.data?._entities.map((q: any) => q?.fare.amount ?? null), [quote.fare.amount, null]);
      assert.deepEqual(result.body.errors?.map((error) => [error.path?.join('.'), error.extensions?.code]), [['_entities.1', 'NOT_FOUND']]);
    });
  });

  describe('demo city', () => {
    it('stores the quote behind every demo trip, once, with a breakdown that sums to its fare', async () => {
      const city = buildDemoCity();
      const runtime = stack.subgraph('pricing').runtime;
      await pricingSubgraph.seedDemo!(runtime, city);
      await pricingSubgraph.seedDemo!(runtime, city);
      const ids = city.trips.map((trip) => trip.quoteId);
      const rows = await pricingDb().find(Quote, { id: { $in: ids } });
      assert.equal(rows.length, city.trips.length);
      for (const trip of city.trips) {
        const row = rows.find((r) => r.id === trip.quoteId)!;
        assert.equal(row.fareMinor, trip.fareMinor);
        assert.equal(row.baseFareMinor + row.distanceFareMinor + row.timeFareMinor + row.bookingFeeMinor + row.minimumTopUpMinor + row.timeOfDayMinor + row.surgeMinor + row.roundingMinor, trip.fareMinor);
        assert.deepEqual([row.riderId, row.vehicleType, row.distanceM, row.durationS, row.tripId], [trip.riderId, trip.vehicleType, trip.distanceM, trip.durationS, trip.id]);
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
