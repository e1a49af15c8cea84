import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import { assertErrorCode, dataOf, type GraphQLResult } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { newKey, quoteSigner, REQUEST_TRIP, type QuoteSigner } from './quotes.ts';

describe('requestTrip', () => {
  let stack: Stack;
  let sign: QuoteSigner;

  before(async () => {
    stack = await startStack({ subgraphs: ['trips'] });
    sign = quoteSigner(stack);
  });
  after(() => stack?.stop());

  const request = (user: TestUser, quoteId: string, key = newKey(), paymentMethod = 'CASH') =>
    stack.query(REQUEST_TRIP, { input: { quoteId, paymentMethod }, key }, { token: user.accessToken });

  const tripsOf = (riderId: string) => stack.subgraph('trips').db.fork().find(Trip, { riderId });

  /** Ends a trip behind the API's back, so its rider may book again. */
  const complete = (tripId: string) => stack.subgraph('trips').db.fork().nativeUpdate(Trip, { id: tripId }, { status: 'COMPLETED' });

  function assertQuoteInvalid(result: GraphQLResult, reason: string) {
    assertErrorCode(result, 'QUOTE_INVALID');
    assert.equal(result.body.errors![0].extensions!.reason, reason);
  }

  it('books a REQUESTED trip at the quoted fare, type and points', async () => {
    const rider = await stack.signUp('RIDER');
    const quoteId = sign(rider.id, { vehicleType: 'PREMIUM', fareMinor: '12345' });
    const { requestTrip: trip } = dataOf(await request(rider, quoteId, newKey(), 'CASH'));
    assert.equal(trip.status, 'REQUESTED');
    assert.equal(trip.vehicleType, 'PREMIUM');
    assert.equal(trip.paymentMethod, 'CASH');
    assert.deepEqual(trip.fare, { amount: '123.45', currency: 'EGP' });
    assert.deepEqual(trip.pickup, { lat: 30.0444, lng: 31.2357 });
    assert.deepEqual(trip.dropoff, { lat: 30.0626, lng: 31.2497 });
    assert.deepEqual(trip.rider, { id: rider.id });
    assert.equal(trip.driver, null);
    assert.deepEqual(trip.quote, { id: quoteId });
    assert.equal(trip.requestedAt, trip.updatedAt);
  });

  it('returns the same trip when the same idempotency key is replayed', async () => {
    const rider = await stack.signUp('RIDER');
    const quoteId = sign(rider.id);
    const key = newKey();
    const first = dataOf(await request(rider, quoteId, key)).requestTrip;
    const second = dataOf(await request(rider, quoteId, key)).requestTrip;
    assert.equal(second.id, first.id);
    assert.equal((await tripsOf(rider.id)).length, 1);
  });

  it('replays a booked trip even after its quote has expired', async () => {
    const rider = await stack.signUp('RIDER');
    const quoteId = sign(rider.id, { expiresAt: Date.now() + 1_500 });
    const key = newKey();
    const first = dataOf(await request(rider, quoteId, key)).requestTrip;
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    assert.equal(dataOf(await request(rider, quoteId, key)).requestTrip.id, first.id);
  });

  it('refuses an idempotency key reused for a different quote or payment method', async () => {
    const rider = await stack.signUp('RIDER');
    const key = newKey();
    const quoteId = sign(rider.id);
    dataOf(await request(rider, quoteId, key));
    const otherQuote = await request(rider, sign(rider.id), key);
    assertErrorCode(otherQuote, 'CONFLICT');
    assert.equal(otherQuote.body.errors![0].extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
    assertErrorCode(await request(rider, quoteId, key, 'WALLET'), 'CONFLICT');
    assert.equal((await tripsOf(rider.id)).length, 1);
  });

  it('books exactly one trip when ten identical requests race, and all ten answer with it', async () => {
    const rider = await stack.signUp('RIDER');
    const quoteId = sign(rider.id);
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 10 }, () => request(rider, quoteId, key)));
    const ids = results.map((result) => dataOf(result).requestTrip.id);
    assert.equal(new Set(ids).size, 1);
    const rows = await tripsOf(rider.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].id, ids[0]);
  });

  it('lets exactly one of five racing requests with different keys and quotes through; the rest are CONFLICT', async () => {
    const rider = await stack.signUp('RIDER');
    const results = await Promise.all(Array.from({ length: 5 }, () => request(rider, sign(rider.id), newKey())));
    const booked = results.filter((result) => result.body.data?.requestTrip);
    const refused = results.filter((result) => result.body.errors);
    assert.equal(booked.length, 1);
    assert.equal(refused.length, 4);
    for (const result of refused) {
      assertErrorCode(result, 'CONFLICT');
      assert.equal(result.body.errors![0].extensions!.reason, 'ACTIVE_TRIP');
    }
    assert.equal((await tripsOf(rider.id)).length, 1);
  });

  it('refuses a second trip while the rider has an active one, and allows it once that trip is over', async () => {
    const rider = await stack.signUp('RIDER');
    const first = dataOf(await request(rider, sign(rider.id))).requestTrip;
    const refused = await request(rider, sign(rider.id));
    assertErrorCode(refused, 'CONFLICT');
    assert.equal(refused.body.errors![0].extensions!.reason, 'ACTIVE_TRIP');
    await complete(first.id);
    const second = dataOf(await request(rider, sign(rider.id))).requestTrip;
    assert.notEqual(second.id, first.id);
  });

  it('refuses a tampered quote and writes nothing', async () => {
    const rider = await stack.signUp('RIDER');
    const [payload, signature] = sign(rider.id).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const cheaper = Buffer.from(JSON.stringify({ ...claims, fareMinor: '100' }), 'utf8').toString('base64url');
    assertQuoteInvalid(await request(rider, `${cheaper}.${signature}`), 'INVALID');
    assertQuoteInvalid(await request(rider, 'not-a-quote'), 'INVALID');
    assertQuoteInvalid(await request(rider, `${payload}.${signature}.extra`), 'INVALID');
    assert.equal((await tripsOf(rider.id)).length, 0);
  });

  it('refuses a quote signed with another secret', async () => {
    const rider = await stack.signUp('RIDER');
    const { signQuote } = await import('../../../platform/quote-token.ts');
    const [payload] = sign(rider.id).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    assertQuoteInvalid(await request(rider, signQuote(claims, 'x'.repeat(43))), 'INVALID');
    assert.equal((await tripsOf(rider.id)).length, 0);
  });

  it('refuses an expired quote and writes nothing', async () => {
    const rider = await stack.signUp('RIDER');
    assertQuoteInvalid(await request(rider, sign(rider.id, { expiresAt: Date.now() - 1 })), 'EXPIRED');
    assert.equal((await tripsOf(rider.id)).length, 0);
  });

  it("refuses another rider's quote and writes nothing", async () => {
    const owner = await stack.signUp('RIDER');
    const thief = await stack.signUp('RIDER');
    assertQuoteInvalid(await request(thief, sign(owner.id)), 'WRONG_RIDER');
    assert.equal((await tripsOf(thief.id)).length, 0);
  });

  it('refuses a quote that already booked a trip, under a new idempotency key', async () => {
    const rider = await stack.signUp('RIDER');
    const quoteId = sign(rider.id);
    const first = dataOf(await request(rider, quoteId)).requestTrip;
    await complete(first.id);
    assertQuoteInvalid(await request(rider, quoteId, newKey()), 'USED');
    assert.equal((await tripsOf(rider.id)).length, 1);
  });

  it('refuses a reused quote also when the requests race', async () => {
    const rider = await stack.signUp('RIDER');
    const quoteId = sign(rider.id);
    const results = await Promise.all(Array.from({ length: 5 }, () => request(rider, quoteId, newKey())));
    assert.equal(results.filter((result) => result.body.data?.requestTrip).length, 1);
    for (const result of results.filter((r) => r.body.errors)) {
      const code = result.body.errors![0].extensions!.code;
      assert.ok(code === 'QUOTE_INVALID' || code === 'CONFLICT', `unexpected ${code}`);
    }
    assert.equal((await tripsOf(rider.id)).length, 1);
  });

  it('rejects idempotency keys that are too short, too long or carry other characters', async () => {
    const rider = await stack.signUp('RIDER');
    for (const key of ['short', 'x'.repeat(129), 'has spaces in it', 'ünïcode-key']) {
      assertErrorCode(await request(rider, sign(rider.id), key), 'BAD_USER_INPUT');
    }
    assert.equal((await tripsOf(rider.id)).length, 0);
  });

  it('does not let a DRIVER request a trip', async () => {
    const driver = await stack.signUp('DRIVER');
    assertErrorCode(await request(driver, sign(driver.id)), 'FORBIDDEN');
    assert.equal((await tripsOf(driver.id)).length, 0);
  });

  it('does not let an anonymous caller request a trip', async () => {
    const result = await stack.query(REQUEST_TRIP, { input: { quoteId: sign(randomUUID()), paymentMethod: 'CASH' }, key: newKey() });
    assertErrorCode(result, 'UNAUTHENTICATED');
  });
});
