import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import { toMoney } from '../../../platform/money.ts';
import { createServiceClient } from '../../../platform/service-client.ts';
import type { SubgraphRuntime } from '../../../platform/subgraph.ts';
import { createTripsSubgraph } from '../../../subgraphs/trips/index.ts';
import { bookingTripId, httpFareHolds, type FareHolds } from '../../../subgraphs/trips/payments.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { offset } from '../../support/rides.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { WalletFunds } from '../../support/wallet-funds.ts';
import { newKey } from './quotes.ts';
import { Rides } from './rides.ts';

/** Every call trips made to the wallet, in order (the real wallet answers them). */
type WalletCall = { op: 'hold' | 'release'; tripId: string };

function recorded(holds: FareHolds, calls: WalletCall[]): FareHolds {
  return {
    hold: (request, options) => {
      calls.push({ op: 'hold', tripId: request.tripId });
      return holds.hold(request, options);
    },
    release: (tripId, options) => {
      calls.push({ op: 'release', tripId });
      return holds.release(tripId, options);
    },
  };
}

/** Requests trips sent to the wallet to hold fares (each carries one or more holds). */
const holdRequests = { count: 0 };

const walletClient = (runtime: SubgraphRuntime) => {
  const client = createServiceClient({ caller: 'trips', target: 'wallet', config: runtime.config, logger: runtime.logger });
  return httpFareHolds({
    request: (query, variables, options) => {
      if (query.includes('holdTripFares')) holdRequests.count += 1;
      return client.request(query, variables, options);
    },
  });
};

const WALLET = `query { me { wallet { balance { amount currency } available { amount currency } pending { amount currency } } } }`;

/** The quoted fare of every booking here (the Rides quote signer's): 87.50 EGP. */
const FARE = 8_750n;

describe('WALLET trips hold their fare when booked', () => {
  let stack: Stack;
  let rides: Rides;
  let funds: WalletFunds;
  const calls: WalletCall[] = [];

  before(async () => {
    stack = await startStack({
      subgraphs: ['drivers', 'trips', 'wallet'],
      setups: { trips: createTripsSubgraph({ fareHolds: (runtime) => recorded(walletClient(runtime), calls) }) },
    });
    rides = new Rides(stack);
    funds = new WalletFunds(stack);
  });
  after(async () => {
    await funds?.close();
    await rides?.dispose();
    await stack?.stop();
  });

  /** A rider with `balanceMinor` in their wallet. */
  async function riderWith(balanceMinor: bigint): Promise<TestUser> {
    const rider = await stack.signUp('RIDER');
    if (balanceMinor > 0n) await funds.deposit(rider.id, balanceMinor);
    return rider;
  }

  const walletOf = async (rider: TestUser) => dataOf<any>(await rides.as(rider, WALLET, {})).me.wallet;
  const money = (minor: bigint) => toMoney(minor, 'EGP');
  const tripRows = (riderId: string) => rides.sql<{ id: string }>(`select "id" from "trips"."trips" where "rider_id" = ?`, [riderId]);

  it('holds the fare in the rider\'s wallet (available reduced, pending) and dispatches the trip', async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 400));
    const rider = await riderWith(10_000n);
    const key = newKey();
    const trip = await rides.request(rider, pickup, {}, 'WALLET', key);
    assert.equal(trip.status, 'REQUESTED');
    assert.equal(trip.id, bookingTripId(rider.id, key), 'the trip id is derived from (rider, key)');

    assert.deepEqual(await walletOf(rider), { balance: money(10_000n), available: money(10_000n - FARE), pending: money(-FARE) });
    const [hold, ...others] = await funds.tripTransfers(trip.id);
    assert.equal(others.length, 0);
    assert.equal(hold!.kind, 'PENDING');
    assert.equal(hold!.amount, FARE);
    assert.equal(hold!.code, 'TRIP_FARE');

    const [offer] = await rides.pendingOffers(trip.id);
    assert.equal(offer!.driver_id, driver.driverId);
    assert.deepEqual((await rides.events(trip.id)).map((event) => event.type), ['TripRequested']);
  });

  it('refuses a booking the balance does not cover with INSUFFICIENT_FUNDS: no trip row, no TripRequested, no offer, no hold', async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 400));
    const rider = await riderWith(FARE - 1n);
    const key = newKey();
    const result = await rides.requestResult(rider, pickup, {}, 'WALLET', key);
    assertErrorCode(result, 'INSUFFICIENT_FUNDS');
    assert.deepEqual(result.body.errors![0].extensions!.fare, money(FARE));

    const tripId = bookingTripId(rider.id, key);
    assert.deepEqual(await tripRows(rider.id), []);
    assert.deepEqual(await rides.events(tripId), []);
    assert.deepEqual(await rides.offers(tripId), []);
    assert.equal(await rides.availability(driver), 'AVAILABLE', 'nobody reserved the driver');
    assert.deepEqual(await funds.tripTransfers(tripId), []);
    assert.deepEqual(await walletOf(rider), { balance: money(FARE - 1n), available: money(FARE - 1n), pending: money(0n) });
  });

  it('refuses a rider without a wallet (nothing ever paid in) the same way', async () => {
    const rider = await riderWith(0n);
    assertErrorCode(await rides.requestResult(rider, rides.freshArea(), {}, 'WALLET'), 'INSUFFICIENT_FUNDS');
    assert.deepEqual(await tripRows(rider.id), []);
  });

  it('holds once for a booking retried with the same key, racing or after the first answer', async () => {
    const rider = await riderWith(10_000n);
    const pickup = rides.freshArea();
    const key = newKey();
    const quoteId = rides.sign(rider.id, { pickup, dropoff: offset(pickup, 3_000) });
    const book = () => rides.as(rider, `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id status } }`, { input: { quoteId, paymentMethod: 'WALLET' }, key });
    const racing = await Promise.all(Array.from({ length: 5 }, book));
    const retried = await book();
    const ids = new Set([...racing, retried].map((result) => dataOf<any>(result).requestTrip.id));
    assert.deepEqual([...ids], [bookingTripId(rider.id, key)]);
    assert.equal((await tripRows(rider.id)).length, 1);

    const transfers = await funds.tripTransfers([...ids][0]!);
    assert.deepEqual(transfers.map((transfer) => [transfer.kind, transfer.amount]), [['PENDING', FARE]], 'one hold');
    assert.deepEqual(await funds.balance(rider.id), { posted: 10_000n, pending: -FARE, available: 10_000n - FARE });
  });

  it('books one of ten racing WALLET bookings (other keys and quotes) by a rider with money for two: one trip, one fare held', async () => {
    const rider = await riderWith(2n * FARE + 100n);
    const pickup = rides.freshArea();
    const keys = Array.from({ length: 10 }, () => newKey());
    const results = await Promise.all(keys.map((key) => rides.requestResult(rider, pickup, {}, 'WALLET', key)));
    const booked = results.filter((result) => result.body.data?.requestTrip);
    assert.equal(booked.length, 1);
    for (const result of results.filter((r) => r.body.errors)) {
      const { code, reason } = result.body.errors![0].extensions!;
      assert.ok((code === 'CONFLICT' && reason === 'ACTIVE_TRIP') || code === 'INSUFFICIENT_FUNDS', `unexpected ${code} ${reason}`);
    }
    const tripId = booked[0]!.body.data.requestTrip.id;
    assert.deepEqual((await tripRows(rider.id)).map((row) => row.id), [tripId]);
    for (const key of keys) assert.equal((await funds.openHolds(bookingTripId(rider.id, key))).length, bookingTripId(rider.id, key) === tripId ? 1 : 0);
    assert.deepEqual(await funds.balance(rider.id), { posted: 2n * FARE + 100n, pending: -FARE, available: FARE + 100n });
  });

  it('adopts the hold of a booking whose trips process died between the hold and the insert (a retry with the same key)', async () => {
    const rider = await riderWith(10_000n);
    const pickup = rides.freshArea();
    const key = newKey();
    const tripId = bookingTripId(rider.id, key);
    // What trips had done before dying: the wallet holds the fare for a trip that was never written.
    const config = stack.config('trips');
    const holds = httpFareHolds(createServiceClient({ caller: 'trips', target: 'wallet', config, logger: createLogger(config) }));
    assert.equal((await holds.hold({ tripId, riderId: rider.id, amount: money(FARE) })).status, 'AUTHORIZED');
    assert.deepEqual(await tripRows(rider.id), [], 'an orphan hold');

    const trip = await rides.request(rider, pickup, {}, 'WALLET', key);
    assert.equal(trip.id, tripId);
    assert.equal((await funds.openHolds(tripId)).length, 1);
    assert.deepEqual(await funds.balance(rider.id), { posted: 10_000n, pending: -FARE, available: 10_000n - FARE }, 'held once, not twice');
  });

  it('releases the hold of a booking refused for an active trip (and of one refused for a used quote)', async () => {
    const rider = await riderWith(20_000n);
    const pickup = rides.freshArea();
    const first = await rides.request(rider, pickup, {}, 'WALLET');
    const key = newKey();
    const refused = await rides.requestResult(rider, pickup, {}, 'WALLET', key);
    assertErrorCode(refused, 'CONFLICT');
    assert.equal(refused.body.errors![0].extensions!.reason, 'ACTIVE_TRIP');
    const refusedTrip = bookingTripId(rider.id, key);
    assert.deepEqual(await funds.openHolds(refusedTrip), [], 'no hold left for the refused booking');
    assert.deepEqual(calls.filter((call) => call.tripId === refusedTrip).map((call) => call.op), ['hold', 'release']);
    assert.equal((await funds.openHolds(first.id)).length, 1, 'the active trip keeps its own');
    assert.deepEqual(await funds.balance(rider.id), { posted: 20_000n, pending: -FARE, available: 20_000n - FARE });

    // Another rider's quote racing for the same quote id is refused by the unique quote, after its hold.
    const other = await riderWith(20_000n);
    const cashTrip = await rides.request(other, rides.freshArea());
    await rides.sql(`update "trips"."trips" set "status" = 'COMPLETED' where "id" = ?`, [cashTrip.id]);
    const [reused] = await rides.sql<{ quote_token: string }>(`select "quote_token" from "trips"."trips" where "id" = ?`, [cashTrip.id]);
    const usedKey = newKey();
    const used = await rides.as(other, `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id } }`, { input: { quoteId: reused!.quote_token, paymentMethod: 'WALLET' }, key: usedKey });
    assertErrorCode(used, 'QUOTE_INVALID');
    assert.equal(used.body.errors![0].extensions!.reason, 'USED');
    assert.deepEqual(await funds.openHolds(bookingTripId(other.id, usedKey)), []);
    assert.deepEqual(await funds.balance(other.id), { posted: 20_000n, pending: 0n, available: 20_000n });
  });

  it('answers a key whose booking was refused after its hold with CONFLICT once the cause is gone (its hold was released: a new key books)', async () => {
    const rider = await riderWith(20_000n);
    const pickup = rides.freshArea();
    const first = await rides.request(rider, pickup, {}, 'CASH');
    const key = newKey();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      // While the active trip lasts, the same refusal each time.
      const refused = await rides.requestResult(rider, pickup, {}, 'WALLET', key);
      assertErrorCode(refused, 'CONFLICT');
      assert.equal(refused.body.errors![0].extensions!.reason, 'ACTIVE_TRIP');
    }
    await rides.sql(`update "trips"."trips" set "status" = 'COMPLETED' where "id" = ?`, [first.id]);

    const spent = await rides.requestResult(rider, pickup, {}, 'WALLET', key);
    assertErrorCode(spent, 'CONFLICT');
    assert.equal(spent.body.errors![0].extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
    assert.deepEqual(await funds.openHolds(bookingTripId(rider.id, key)), []);
    assert.deepEqual(await funds.balance(rider.id), { posted: 20_000n, pending: 0n, available: 20_000n });
    assert.equal((await tripRows(rider.id)).length, 1);
    assert.equal((await rides.request(rider, pickup, {}, 'WALLET')).status, 'REQUESTED');
  });

  it('answers a key already used for a CASH trip with CONFLICT, holding nothing for it', async () => {
    const rider = await riderWith(20_000n);
    const pickup = rides.freshArea();
    const key = newKey();
    const quoteId = rides.sign(rider.id, { pickup, dropoff: offset(pickup, 3_000) });
    const book = (paymentMethod: string) => rides.as(rider, `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id } }`, { input: { quoteId, paymentMethod }, key });
    const cash = dataOf<any>(await book('CASH')).requestTrip;
    const reused = await book('WALLET');
    assertErrorCode(reused, 'CONFLICT');
    assert.equal(reused.body.errors![0].extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
    assert.deepEqual(await funds.openHolds(cash.id), []);
    assert.deepEqual(await funds.balance(rider.id), { posted: 20_000n, pending: 0n, available: 20_000n });
  });

  it('holds the fares of 20 WALLET bookings made at once in fewer wallet calls than bookings, one hold per trip', async () => {
    const riders = await Promise.all(Array.from({ length: 20 }, () => riderWith(10_000n)));
    const [requestsBefore, holdsBefore] = [holdRequests.count, calls.filter((call) => call.op === 'hold').length];
    const trips = await Promise.all(riders.map((rider) => rides.request(rider, rides.freshArea(), {}, 'WALLET')));
    assert.equal(new Set(trips.map((trip) => trip.id)).size, 20);
    assert.equal(calls.filter((call) => call.op === 'hold').length - holdsBefore, 20, 'each booking asked for its own hold');
    const requests = holdRequests.count - requestsBefore;
    assert.ok(requests >= 1 && requests < 20, `${requests} wallet calls for 20 holds`);
    for (const [i, trip] of trips.entries()) {
      const transfers = await funds.tripTransfers(trip.id);
      assert.deepEqual(transfers.map((transfer) => [transfer.kind, transfer.amount]), [['PENDING', FARE]], 'one hold of its fare');
      assert.deepEqual(await funds.balance(riders[i]!.id), { posted: 10_000n, pending: -FARE, available: 10_000n - FARE });
    }
  });

  it('answers each of a batch of bookings on its own: the rider who cannot pay is refused, the others book', async () => {
    const riders = await Promise.all([10_000n, FARE - 1n, 10_000n, 0n].map(riderWith));
    const results = await Promise.all(riders.map((rider) => rides.requestResult(rider, rides.freshArea(), {}, 'WALLET')));
    assert.deepEqual(
      results.map((result) => result.body.data?.requestTrip?.status ?? result.body.errors?.[0]?.extensions?.code),
      ['REQUESTED', 'INSUFFICIENT_FUNDS', 'REQUESTED', 'INSUFFICIENT_FUNDS'],
    );
  });

  it('books a CASH trip without calling the wallet', async () => {
    const rider = await riderWith(0n);
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 400));
    const trip = await rides.request(rider, pickup, {}, 'CASH');
    assert.equal(trip.status, 'REQUESTED');
    assert.deepEqual(calls.filter((call) => call.tripId === trip.id), []);
    assert.deepEqual(await funds.tripTransfers(trip.id), []);
    assert.equal((await rides.pendingOffers(trip.id))[0]!.driver_id, driver.driverId);
  });
});

describe('WALLET trips while the wallet is unavailable', () => {
  let stack: Stack;
  let rides: Rides;

  before(async () => {
    // No wallet in this stack: its URL is a closed port.
    stack = await startStack({ subgraphs: ['trips'] });
    rides = new Rides(stack);
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
  });

  it('refuses a WALLET booking with SERVICE_UNAVAILABLE and writes nothing; CASH books as ever', async () => {
    const rider = await stack.signUp('RIDER');
    const pickup = rides.freshArea();
    const key = newKey();
    const result = await rides.requestResult(rider, pickup, {}, 'WALLET', key);
    assertErrorCode(result, 'SERVICE_UNAVAILABLE');
    assert.deepEqual(await rides.sql(`select "id" from "trips"."trips" where "rider_id" = ?`, [rider.id]), []);
    assert.deepEqual(await rides.events(bookingTripId(rider.id, key)), []);
    assert.equal((await rides.request(rider, pickup, {}, 'CASH')).status, 'REQUESTED');
  });

  it('still answers what the rider\'s trips decide first: a trip booked with the key, a used quote, an active trip', async () => {
    const rider = await stack.signUp('RIDER');
    const pickup = rides.freshArea();
    const key = newKey();
    const quoteId = rides.sign(rider.id, { pickup, dropoff: offset(pickup, 3_000) });
    const book = (paymentMethod: string, bookingKey = key, quote = quoteId) =>
      rides.as(rider, `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id } }`, { input: { quoteId: quote, paymentMethod }, key: bookingKey });
    dataOf(await book('CASH'));
    const reused = await book('WALLET');
    assertErrorCode(reused, 'CONFLICT');
    assert.equal(reused.body.errors![0].extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
    const usedQuote = await book('WALLET', newKey());
    assertErrorCode(usedQuote, 'QUOTE_INVALID');
    assert.equal(usedQuote.body.errors![0].extensions!.reason, 'USED');
    const active = await book('WALLET', newKey(), rides.sign(rider.id, { pickup, dropoff: offset(pickup, 3_000) }));
    assertErrorCode(active, 'CONFLICT');
    assert.equal(active.body.errors![0].extensions!.reason, 'ACTIVE_TRIP');
  });
});
