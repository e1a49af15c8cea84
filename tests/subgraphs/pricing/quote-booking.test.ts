import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TripRequested } from '../../../platform/events/contracts/index.ts';
import { verifyQuote } from '../../../platform/quote-token.ts';
import { Quote } from '../../../subgraphs/pricing/entities.ts';
import { BOOKED_QUOTE_COLUMNS, PostgresQuoteStore, RedisQuoteStore } from '../../../subgraphs/pricing/quote-store.ts';
import { dataOf } from '../../support/client.ts';
import type { Stack, TestUser } from '../../support/stack.ts';
import { DROPOFF, estimate, minor, PICKUP, quoteKey, quoteKeyPrefix, quoteSecret, startPricingStack, TestClock, waitFor } from './support.ts';

const QUOTE_ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Quote { id vehicleType fare { amount } breakdown { baseFare { amount } rounding { amount } } cancellationFee { amount } } } }`;

/**
 * A quote that books a trip must resolve for Trip.quote forever, long after Redis forgot it: pricing
 * keeps it in Postgres when the TripRequested arrives. Run once with Redis and once without.
 */
for (const mode of ['Redis', 'embedded'] as const) {
  describe(`booked quotes (${mode === 'Redis' ? 'quotes in Redis' : 'no Redis: quotes in Postgres'})`, { skip: mode === 'Redis' && !process.env.REDIS_URL && 'REDIS_URL is not set' }, () => {
    const clock = new TestClock(new Date());
    let stack: Stack;
    let rider: TestUser;
    let secret: string;
    const pricingDb = () => stack.subgraph('pricing').db.fork();
    const entities = (ids: string[]) => stack.querySubgraph('pricing', QUOTE_ENTITIES, { r: ids.map((id) => ({ __typename: 'Quote', id })) }, { token: rider.accessToken });
    const tripRequested = (quoteId: string, tripId: string) =>
      stack.subgraph('trips').runtime.events.publish({
        contract: TripRequested,
        key: tripId,
        data: { tripId, quoteId, riderId: rider.id, vehicleType: 'COMFORT', pickup: PICKUP, dropoff: DROPOFF, fareMinor: '3650', currency: 'EGP', paymentMethod: 'CASH', requestedAt: clock.now().toISOString() },
      });
    const bookedRow = (quoteId: string) => waitFor(async () => (await pricingDb().findOne(Quote, { id: quoteId, tripId: { $ne: null } })) ?? undefined, `quote ${quoteId} booked`);

    before(async () => {
      stack = await startPricingStack(clock, { subgraphs: ['trips', 'pricing'], env: mode === 'embedded' ? { REDIS_URL: '' } : {} });
      rider = await stack.signUp('RIDER');
      secret = quoteSecret(stack);
      assert.equal(Boolean(stack.subgraph('pricing').redis), mode === 'Redis');
    });
    after(() => stack.stop());

    it(mode === 'Redis' ? 'keeps unbooked quotes out of Postgres' : 'stores every quote in Postgres at once', async () => {
      const quotes = await estimate(stack, rider);
      const ids = quotes.map((quote: any) => verifyQuote(quote.id, secret)!.quoteId);
      assert.equal(await pricingDb().count(Quote, { id: { $in: ids } }), mode === 'Redis' ? 0 : 4);
    });

    it('writes a kept quote with every column of the quotes table (a column added later cannot be left out)', async () => {
      const columns = await pricingDb().getConnection().execute(`select column_name from information_schema.columns where table_schema = 'pricing' and table_name = 'quotes'`);
      assert.deepEqual(columns.map((column: { column_name: string }) => column.column_name).sort(), [...BOOKED_QUOTE_COLUMNS].sort());
    });

    it('keeps the quote that booked a trip, exactly once though the event comes twice', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['COMFORT'] });
      const { quoteId } = verifyQuote(quote.id, secret)!;
      const tripId = randomUUID();
      await tripRequested(quoteId, tripId);
      await tripRequested(quoteId, tripId);
      const row = await bookedRow(quoteId);
      assert.deepEqual([row.tripId, row.fareMinor, row.cancellationFeeMinor, row.commissionBps, row.bookedAt?.getTime()], [tripId, minor(quote.fare.amount), 1500n, 1800, clock.now().getTime()]);
      assert.equal(await pricingDb().count(Quote, { id: quoteId }), 1);
    });

    it('resolves a booked quote after it is gone from Redis, every line intact', async () => {
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['COMFORT'] });
      const { quoteId } = verifyQuote(quote.id, secret)!;
      await tripRequested(quoteId, randomUUID());
      await bookedRow(quoteId);
      if (mode === 'Redis') assert.equal(await stack.subgraph('pricing').redis!.del(quoteKey(stack, quoteId)), 1, 'as if its TTL had run out');
      const [resolved] = dataOf(await entities([quote.id]))._entities;
      assert.deepEqual(resolved, { id: quote.id, vehicleType: 'COMFORT', fare: { amount: quote.fare.amount }, breakdown: { baseFare: { amount: '15.00' }, rounding: { amount: quote.breakdown.rounding.amount } }, cancellationFee: { amount: '15.00' } });
    });

    it('resolves a page of quotes, booked or not, in one batch', async () => {
      const quotes = await estimate(stack, rider);
      await tripRequested(verifyQuote(quotes[1].id, secret)!.quoteId, randomUUID());
      await bookedRow(verifyQuote(quotes[1].id, secret)!.quoteId);
      stack.resetStatementCount();
      const resolved = dataOf(await entities(quotes.map((quote: any) => quote.id)))._entities;
      assert.deepEqual(resolved.map((quote: any) => quote.fare.amount), quotes.map((quote: any) => quote.fare.amount));
      assert.equal(stack.statementCount(), mode === 'Redis' ? 0 : 1, mode === 'Redis' ? 'all four from one MGET' : 'one SELECT');
    });

    it('keeps the quotes of several bookings at once (one read of a burst), and names the one it cannot find', async () => {
      const quotes = await estimate(stack, rider);
      const pricing = stack.subgraph('pricing');
      const store = pricing.redis
        ? new RedisQuoteStore({ redis: pricing.redis, prefix: quoteKeyPrefix(stack).replace(/quote:$/, ''), ttlSeconds: 60, logger: pricing.runtime.logger })
        : new PostgresQuoteStore();
      const bookedAt = clock.now();
      const bookings = [...quotes.slice(0, 3).map((quote: any) => ({ quoteId: verifyQuote(quote.id, secret)!.quoteId, tripId: randomUUID(), bookedAt })), { quoteId: randomUUID(), tripId: randomUUID(), bookedAt }];
      stack.resetStatementCount();
      const lost = await pricingDb().transactional((em) => store.book(em, bookings));
      assert.deepEqual(lost, [bookings[3]]);
      if (mode === 'Redis') assert.equal(stack.statementCount(), 2, 'one upsert for the three quotes found in Redis, one update for the unknown one');
      const rows = await pricingDb().find(Quote, { id: { $in: bookings.map((booking) => booking.quoteId) } });
      assert.deepEqual(
        rows.map((row) => [row.id, row.tripId, row.bookedAt?.getTime()]).sort(),
        bookings.slice(0, 3).map((booking) => [booking.quoteId, booking.tripId, bookedAt.getTime()]).sort(),
      );
    });

    it('goes on consuming after a request whose quote it never issued', async () => {
      await tripRequested(randomUUID(), randomUUID());
      const [quote] = await estimate(stack, rider, { vehicleTypes: ['XL'] });
      const { quoteId } = verifyQuote(quote.id, secret)!;
      await tripRequested(quoteId, randomUUID());
      assert.equal((await bookedRow(quoteId)).vehicleType, 'XL');
    });
  });
}
