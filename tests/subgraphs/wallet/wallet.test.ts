import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import { Payment, Wallet } from '../../../subgraphs/wallet/entities.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { newKey, quoteSigner, REQUEST_TRIP, type QuoteSigner } from '../trips/quotes.ts';

const MY_WALLET = `query { me { id wallet { balance { amount currency } } } }`;
const WALLET_ENTITY = `query Entities($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { wallet { balance { amount currency } } } } }`;
const PAYMENT_ENTITY = `query Entities($reps: [_Any!]!) { _entities(representations: $reps) { ... on Trip { id payment { id status method amount { amount currency } createdAt } } } }`;
const TRIP_PAYMENT = `query Trip($id: ID!) { trip(id: $id) { id fare { amount currency } payment { status method amount { amount currency } } } }`;

describe('wallet', () => {
  let stack: Stack;
  let sign: QuoteSigner;
  let admin: TestUser;

  before(async () => {
    stack = await startStack({ subgraphs: ['trips', 'wallet'] });
    sign = quoteSigner(stack);
    admin = await stack.admin();
  });
  after(() => stack?.stop());

  const walletDb = () => stack.subgraph('wallet').db.fork();

  async function bookTrip(rider: TestUser): Promise<string> {
    const result = await stack.query(REQUEST_TRIP, { input: { quoteId: sign(rider.id), paymentMethod: 'WALLET' }, key: newKey() }, { token: rider.accessToken });
    return dataOf(result).requestTrip.id;
  }

  async function insertPayment(tripId: string, payer: string, payee: string | null, amountMinor = 8750n): Promise<Payment> {
    const em = walletDb();
    const payment = em.create(Payment, { id: randomUUID(), tripId, payerUserId: payer, payeeUserId: payee, method: 'WALLET', status: 'CAPTURED', amountMinor, currency: 'EGP' });
    await em.flush();
    return payment;
  }

  describe('User.wallet', () => {
    it("shows a new user's balance as 0.00 EGP without creating a wallet", async () => {
      const rider = await stack.signUp('RIDER');
      const { me } = dataOf(await stack.query(MY_WALLET, {}, { token: rider.accessToken }));
      assert.deepEqual(me.wallet, { balance: { amount: '0.00', currency: 'EGP' } });
      assert.equal(await walletDb().count(Wallet, { userId: rider.id }), 0);
    });

    it('shows the stored balance exactly', async () => {
      const rider = await stack.signUp('RIDER');
      const em = walletDb();
      em.create(Wallet, { userId: rider.id, balanceMinor: 1_234_567_890_123n, currency: 'EGP' });
      await em.flush();
      const { me } = dataOf(await stack.query(MY_WALLET, {}, { token: rider.accessToken }));
      assert.deepEqual(me.wallet.balance, { amount: '12345678901.23', currency: 'EGP' });
    });

    it("refuses another user's wallet asked for through _entities, but shows it to an admin", async () => {
      const owner = await stack.signUp('RIDER');
      const snoop = await stack.signUp('RIDER');
      const reps = [{ __typename: 'User', id: owner.id }];
      assertErrorCode(await stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: snoop.accessToken }), 'FORBIDDEN');
      assertErrorCode(await stack.querySubgraph('wallet', WALLET_ENTITY, { reps }), 'UNAUTHENTICATED');
      const { _entities } = dataOf(await stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: admin.accessToken }));
      assert.deepEqual(_entities, [{ wallet: { balance: { amount: '0.00', currency: 'EGP' } } }]);
    });

    it('loads the wallets of many users in one statement', async () => {
      const reps = [...Array.from({ length: 20 }, () => ({ __typename: 'User', id: randomUUID() })), { __typename: 'User', id: 'not-a-uuid' }];
      stack.resetStatementCount();
      const { _entities } = dataOf(await stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: admin.accessToken }));
      assert.equal(_entities.length, 21);
      assert.equal(stack.statementCount(), 1);
    });
  });

  describe('Trip.payment', () => {
    it('is null while a trip has no payment', async () => {
      const rider = await stack.signUp('RIDER');
      const id = await bookTrip(rider);
      const { trip } = dataOf(await stack.query(TRIP_PAYMENT, { id }, { token: rider.accessToken }));
      assert.equal(trip.id, id);
      assert.equal(trip.payment, null);
    });

    it('shows a payment to its payer through the graph, next to the fare', async () => {
      const rider = await stack.signUp('RIDER');
      const driver = await stack.signUp('DRIVER');
      const id = await bookTrip(rider);
      await insertPayment(id, rider.id, driver.id);
      const { trip } = dataOf(await stack.query(TRIP_PAYMENT, { id }, { token: rider.accessToken }));
      assert.deepEqual(trip.fare, { amount: '87.50', currency: 'EGP' });
      assert.deepEqual(trip.payment, { status: 'CAPTURED', method: 'WALLET', amount: { amount: '87.50', currency: 'EGP' } });
    });

    it('shows a payment to its payee and to admins, and refuses it to anyone else', async () => {
      const rider = await stack.signUp('RIDER');
      const driver = await stack.signUp('DRIVER');
      const stranger = await stack.signUp('RIDER');
      const tripId = randomUUID();
      const payment = await insertPayment(tripId, rider.id, driver.id, 4200n);
      const reps = [{ __typename: 'Trip', id: tripId }];
      for (const user of [rider, driver, admin]) {
        const { _entities } = dataOf(await stack.querySubgraph('wallet', PAYMENT_ENTITY, { reps }, { token: user.accessToken }));
        assert.equal(_entities[0].payment.id, payment.id);
        assert.deepEqual(_entities[0].payment.amount, { amount: '42.00', currency: 'EGP' });
      }
      const refused = await stack.querySubgraph('wallet', PAYMENT_ENTITY, { reps }, { token: stranger.accessToken });
      assertErrorCode(refused, 'FORBIDDEN');
      assert.equal(refused.body.data?._entities?.[0]?.payment ?? null, null);
    });

    it('loads the payments of many trips in one statement', async () => {
      const rider = await stack.signUp('RIDER');
      const tripIds = Array.from({ length: 15 }, () => randomUUID());
      for (const tripId of tripIds.slice(0, 10)) await insertPayment(tripId, rider.id, null);
      const reps = tripIds.map((id) => ({ __typename: 'Trip', id }));
      stack.resetStatementCount();
      const { _entities } = dataOf(await stack.querySubgraph('wallet', PAYMENT_ENTITY, { reps }, { token: rider.accessToken }));
      assert.equal(stack.statementCount(), 1);
      assert.deepEqual(_entities.map((t: any) => t.payment !== null), tripIds.map((_, i) => i < 10));
    });

    it('costs the same number of statements across trips and wallet for 5 trips as for 50', async () => {
      const rider = await stack.signUp('RIDER');
      const tripsEm = stack.subgraph('trips').db.fork();
      const start = Date.UTC(2025, 0, 1);
      const trips = Array.from({ length: 60 }, (_, i) =>
        tripsEm.create(Trip, {
          id: randomUUID(), riderId: rider.id, driverId: null, driverUserId: null, status: 'COMPLETED', vehicleType: 'XL', paymentMethod: 'CASH',
          pickupLat: 30.05, pickupLng: 31.23, dropoffLat: 30.06, dropoffLng: 31.25, fareMinor: 3000n + BigInt(i), currency: 'EGP',
          distanceM: 2500, durationS: 500, quoteId: randomUUID(), quoteToken: 'seeded', idempotencyKey: newKey(),
          requestedAt: new Date(start + i * 60_000), updatedAt: new Date(start + i * 60_000),
        }),
      );
      await tripsEm.flush();
      const em = walletDb();
      for (const trip of trips) em.create(Payment, { id: randomUUID(), tripId: trip.id, payerUserId: rider.id, payeeUserId: null, method: 'CASH', status: 'CAPTURED', amountMinor: trip.fareMinor, currency: 'EGP' });
      await em.flush();

      const query = `query($first: Int) { myTrips(first: $first) { edges { node { id fare { amount } payment { status amount { amount } } } } } }`;
      const counts: number[] = [];
      for (const first of [5, 50]) {
        stack.resetStatementCount();
        const { myTrips } = dataOf(await stack.query(query, { first }, { token: rider.accessToken }));
        assert.equal(myTrips.edges.length, first);
        for (const { node } of myTrips.edges) assert.equal(node.payment.amount.amount, node.fare.amount);
        counts.push(stack.statementCount());
      }
      assert.equal(counts[0], counts[1]);
    });
  });

  describe('constraints', () => {
    it('the database refuses a negative balance, a non-positive payment and a second payment for a trip', async () => {
      const em = walletDb();
      await assert.rejects(em.insert(Wallet, { userId: randomUUID(), balanceMinor: -1n, currency: 'EGP', createdAt: new Date(), updatedAt: new Date() }));
      const base = { payerUserId: randomUUID(), payeeUserId: null, method: 'CASH' as const, status: 'PENDING' as const, currency: 'EGP', createdAt: new Date(), updatedAt: new Date() };
      await assert.rejects(em.insert(Payment, { ...base, id: randomUUID(), tripId: randomUUID(), amountMinor: 0n }));
      const tripId = randomUUID();
      await em.insert(Payment, { ...base, id: randomUUID(), tripId, amountMinor: 100n });
      await assert.rejects(em.insert(Payment, { ...base, id: randomUUID(), tripId, amountMinor: 100n }));
    });
  });
});
