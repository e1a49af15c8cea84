import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { signQuote, verifyQuote, type QuoteClaims } from '../../../platform/quote-token.ts';
import { Quote } from '../../../subgraphs/pricing/entities.ts';
import { quoteStoreFor } from '../../../subgraphs/pricing/index.ts';
import { dataOf } from '../../support/client.ts';
import type { Stack, TestUser } from '../../support/stack.ts';
import { PICKUP, DROPOFF, quoteSecret, startPricingStack, TestClock, waitFor } from './support.ts';

const QUOTE_FIELDS = `id vehicleType fare { amount currency }
  breakdown { baseFare { amount } distanceFare { amount } timeFare { amount } minimumFareTopUp { amount } timeOfDayAmount { amount } surgeAmount { amount } bookingFee { amount } rounding { amount } }
  surgeMultiplier timeOfDayMultiplier cancellationFee { amount currency } distanceM durationS pickup { lat lng } dropoff { lat lng } expiresAt`;
const ESTIMATE = `query($pickup: LatLngInput!, $dropoff: LatLngInput!) { fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: [COMFORT]) { ${QUOTE_FIELDS} } }`;
const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id } }`;
const TRIP = `query($id: ID!) { trip(id: $id) { id status quote { ${QUOTE_FIELDS} } } }`;
const CANCEL = `mutation($id: ID!) { cancelTrip(tripId: $id, reason: "changed plans") { status } }`;
const MY_TRIPS = `query { myTrips(first: 10) { edges { node { id quote { id fare { amount } } } } } }`;
const QUOTE_ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Quote { ${QUOTE_FIELDS} } } }`;

/** A quote id as pricing signed them before its claims carried the whole quote (no breakdown, time of day, price list or issue time). */
function legacyToken(token: string, secret: string): string {
  const { breakdown: _breakdown, timeOfDayMultiplier: _timeOfDay, fareRuleId: _fareRuleId, issuedAt: _issuedAt, ...claims } = verifyQuote(token, secret)!;
  return signQuote(claims as QuoteClaims, secret);
}

/**
 * Issue 14: a quote fetched before Redis lost it and booked afterwards made its trip unreadable
 * (Trip.quote null, myTrips `data: null`). A quote id carries the whole quote, signed: pricing keeps
 * the booking from it and resolves it from it when no store holds it; a quote that still cannot be
 * shown is an error on that trip's `quote` only. Run with Redis (the quote's own key deleted) and
 * embedded (its Postgres row deleted: the same "no store holds it" path).
 */
for (const mode of ['Redis', 'embedded'] as const) {
  describe(`a booked quote no store holds (${mode})`, { skip: mode === 'Redis' && !process.env.REDIS_URL && 'REDIS_URL is not set' }, () => {
    const clock = new TestClock(new Date());
    let stack: Stack;
    let secret: string;
    const pricingDb = () => stack.subgraph('pricing').db.fork();

    /** Forgets a quote as a Redis restart would: its own key (through the store's key function), or, embedded, its row. */
    async function loseQuote(quoteId: string) {
      const pricing = stack.subgraph('pricing');
      const store = quoteStoreFor(pricing.runtime);
      if ('key' in store) assert.equal(await pricing.redis!.del(store.key(quoteId)), 1);
      else assert.equal(await pricingDb().nativeDelete(Quote, { id: quoteId }), 1);
    }

    async function estimateOne(user: TestUser) {
      const [quote] = dataOf<any>(await stack.query(ESTIMATE, { pickup: PICKUP, dropoff: DROPOFF }, { token: user.accessToken })).fareEstimates;
      return quote;
    }

    async function book(user: TestUser, quoteId: string): Promise<string> {
      return dataOf<any>(await stack.query(REQUEST, { input: { quoteId, paymentMethod: 'CASH' }, key: `key-${randomUUID()}` }, { token: user.accessToken })).requestTrip.id;
    }

    /** Pricing's row of the quote, once the trip's TripRequested has been consumed and the booking kept. */
    const bookedRow = (quoteId: string, tripId: string) => waitFor(async () => (await pricingDb().findOne(Quote, { id: quoteId, tripId })) ?? undefined, `quote ${quoteId} kept for trip ${tripId}`);

    before(async () => {
      // Dispatch has no drivers here: trips stays REQUESTED/MATCHING, which is all these reads need.
      stack = await startPricingStack(clock, { subgraphs: ['trips', 'pricing'], env: mode === 'embedded' ? { REDIS_URL: '' } : {} });
      secret = quoteSecret(stack);
      assert.equal(Boolean(stack.subgraph('pricing').redis), mode === 'Redis');
    });
    after(() => stack?.stop());

    it('resolves a quote no store holds from its signed id, every field as issued', async () => {
      const rider = await stack.signUp('RIDER');
      const quote = await estimateOne(rider);
      await loseQuote(verifyQuote(quote.id, secret)!.quoteId);
      const [resolved] = dataOf<any>(await stack.querySubgraph('pricing', QUOTE_ENTITIES, { r: [{ __typename: 'Quote', id: quote.id }] }, { token: rider.accessToken }))._entities;
      assert.deepEqual(resolved, quote);
    });

    it('keeps a quote lost before its booking, and the trip and myTrips show it', async () => {
      const rider = await stack.signUp('RIDER');
      const quote = await estimateOne(rider);
      const { quoteId } = verifyQuote(quote.id, secret)!;
      await loseQuote(quoteId);
      const tripId = await book(rider, quote.id);

      const row = await bookedRow(quoteId, tripId);
      assert.deepEqual([row.fareMinor, row.timeOfDayMultiplier, row.surgeMultiplier, row.createdAt.getTime(), row.expiresAt.toISOString()], [BigInt(quote.fare.amount.replace('.', '')), quote.timeOfDayMultiplier, quote.surgeMultiplier, clock.now().getTime(), quote.expiresAt]);

      const trip = dataOf<any>(await stack.query(TRIP, { id: tripId }, { token: rider.accessToken })).trip;
      assert.deepEqual(trip.quote, quote);
      const mine = dataOf<any>(await stack.query(MY_TRIPS, {}, { token: rider.accessToken })).myTrips.edges.map((edge: any) => edge.node);
      assert.deepEqual(mine.find((node: any) => node.id === tripId)?.quote, { id: quote.id, fare: { amount: quote.fare.amount } });
    });

    it('still books and shows a quote whose id was signed before ids carried the whole quote, while it is stored', async () => {
      const rider = await stack.signUp('RIDER');
      const quote = await estimateOne(rider);
      const legacy = legacyToken(quote.id, secret);
      const tripId = await book(rider, legacy);
      await bookedRow(verifyQuote(legacy, secret)!.quoteId, tripId);
      const trip = dataOf<any>(await stack.query(TRIP, { id: tripId }, { token: rider.accessToken })).trip;
      assert.deepEqual(trip.quote, { ...quote, id: legacy });
    });

    it('answers a quote it cannot show with an error on that trip’s quote only; the rest of the list stands', async () => {
      const other = await stack.signUp('RIDER');
      const kept = await estimateOne(other);
      const keptTrip = await book(other, kept.id);
      dataOf(await stack.query(CANCEL, { id: keptTrip }, { token: other.accessToken }));
      // A token from before the change whose quote Redis lost: nothing anywhere can show it.
      const lost = legacyToken((await estimateOne(other)).id, secret);
      await loseQuote(verifyQuote(lost, secret)!.quoteId);
      const lostTrip = await book(other, lost);
      for (const answer of [await stack.query(MY_TRIPS, {}, { token: other.accessToken }), await stack.query(TRIP, { id: lostTrip }, { token: other.accessToken })]) {
        assert.deepEqual(
          answer.body.errors?.map((error) => [error.extensions?.code, error.path?.join('.')]),
          [['NOT_FOUND', 'myTrips' in (answer.body.data ?? {}) ? 'myTrips.edges.0.node.quote' : 'trip.quote']],
        );
      }
      const result = await stack.query(MY_TRIPS, {}, { token: other.accessToken });
      assert.deepEqual(result.body.data, { myTrips: { edges: [{ node: { id: lostTrip, quote: null } }, { node: { id: keptTrip, quote: { id: kept.id, fare: { amount: kept.fare.amount } } } }] } });
      const trip = (await stack.query(TRIP, { id: lostTrip }, { token: other.accessToken })).body.data?.trip;
      assert.deepEqual([trip.id, trip.quote], [lostTrip, null]);
    });
  });
}
