import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { tripLedgerOf } from '../../../subgraphs/wallet/trip-ledger.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { RideFixtures, type RideDriver } from '../../support/rides.ts';
import type { TestUser } from '../../support/stack.ts';
import { cancelledTrip, completedTrip, TripCancelled, TripCompleted, WalletStack } from './wallet-stack.ts';

const MY_WALLET = `query { me { id wallet { balance { amount currency } available { amount } pending { amount } } } }`;
const MY_TRANSACTIONS = `query($first: Int, $after: String) { me { wallet { transactions(first: $first, after: $after) {
  edges { cursor node { id amount { amount currency } kind status description trip { id } createdAt } } pageInfo { hasNextPage endCursor } } } } }`;
const WALLET_ENTITY = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { wallet { balance { amount currency } } } } }`;
const EARNINGS = `query($id: ID!, $from: DateTime!, $to: DateTime!) { driver(id: $id) { earnings(from: $from, to: $to) { from to trips gross { amount currency } commission { amount } net { amount } } } }`;
const HOLD = `mutation($tripId: ID!, $riderId: ID!, $amount: MoneyInput!) { holdTripFare(tripId: $tripId, riderId: $riderId, amount: $amount) { status } }`;
const RELEASE = `mutation($tripId: ID!) { releaseTripFare(tripId: $tripId) { status } }`;

describe('the wallet through the router: balances, statements, earnings', () => {
  let world: WalletStack;
  let fixtures: RideFixtures;
  let admin: TestUser;

  before(async () => {
    world = await WalletStack.start({ subgraphs: ['drivers', 'trips', 'wallet'] });
    fixtures = new RideFixtures(world.stack);
    admin = await world.stack.admin();
  });
  after(async () => {
    await fixtures?.dispose();
    await world?.stop();
  });
  afterEach(() => world.assertBalanced());

  const as = (user: TestUser, query: string, variables: Record<string, unknown> = {}) => world.stack.query(query, variables, { token: user.accessToken });
  const hold = async (riderId: string, amount: string) => {
    const tripId = randomUUID();
    dataOf(await world.asService(HOLD, { tripId, riderId, amount: { amount, currency: 'EGP' } }));
    return tripId;
  };

  describe('User.wallet', () => {
    it("shows a new user's wallet as 0.00 EGP and opens no account to read it", async () => {
      const rider = await world.stack.signUp('RIDER');
      const { me } = dataOf<any>(await as(rider, MY_WALLET));
      assert.deepEqual(me.wallet, { balance: { amount: '0.00', currency: 'EGP' }, available: { amount: '0.00' }, pending: { amount: '0.00' } });
      assert.deepEqual(dataOf<any>(await as(rider, MY_TRANSACTIONS)).me.wallet.transactions, { edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
      assert.deepEqual(await world.ledger.accountsOfOwners([rider.id], ['RIDER_WALLET', 'DRIVER_WALLET']), []);
    });

    it('shows the balance, what is available and what is held, exactly', async () => {
      const rider = await world.stack.signUp('RIDER');
      await world.deposit(rider.id, 123_456_789_012n);
      await hold(rider.id, '87.50');
      const { me } = dataOf<any>(await as(rider, MY_WALLET));
      assert.deepEqual(me.wallet, { balance: { amount: '1234567890.12', currency: 'EGP' }, available: { amount: '1234567802.62' }, pending: { amount: '-87.50' } });
    });

    it('shows a driver their driver wallet, below zero after the commission of a cash trip', async () => {
      const driver = await world.stack.signUp('DRIVER');
      const tripId = randomUUID();
      await world.publish(TripCompleted, completedTrip({ tripId, riderId: randomUUID(), driverUserId: driver.id }, { paymentMethod: 'CASH' }));
      await world.settled(tripId, (transfers) => transfers.length > 0);
      const { me } = dataOf<any>(await as(driver, MY_WALLET));
      assert.deepEqual(me.wallet, { balance: { amount: '-13.13', currency: 'EGP' }, available: { amount: '-13.13' }, pending: { amount: '0.00' } });
    });

    it("refuses another user's wallet asked for through _entities (FORBIDDEN), and shows it to admins", async () => {
      const owner = await world.stack.signUp('RIDER');
      const snoop = await world.stack.signUp('RIDER');
      await world.deposit(owner.id, 4_200n);
      const reps = [{ __typename: 'User', id: owner.id }];
      assertErrorCode(await world.stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: snoop.accessToken }), 'FORBIDDEN');
      assertErrorCode(await world.stack.querySubgraph('wallet', WALLET_ENTITY, { reps }), 'UNAUTHENTICATED');
      const { _entities } = dataOf<any>(await world.stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: admin.accessToken }));
      assert.deepEqual(_entities, [{ wallet: { balance: { amount: '42.00', currency: 'EGP' } } }]);
    });

    it('loads the wallets of many users in one statement', async () => {
      const reps = [...Array.from({ length: 20 }, () => ({ __typename: 'User', id: randomUUID() })), { __typename: 'User', id: 'not-a-uuid' }];
      world.stack.resetStatementCount();
      const { _entities } = dataOf<any>(await world.stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: admin.accessToken }));
      assert.equal(_entities.length, 21);
      assert.equal(world.stack.statementCount(), 1);
    });
  });

  describe('Wallet.transactions', () => {
    it('lists the entries newest first, signed from the wallet’s side, a page at a time, each once', async () => {
      const rider = await world.stack.signUp('RIDER');
      for (const amount of [1_000n, 2_000n, 3_000n]) await world.deposit(rider.id, amount);
      const tripId = await hold(rider.id, '15.00');
      dataOf(await world.asService(RELEASE, { tripId }));
      const seen: any[] = [];
      let after: string | null = null;
      for (let page = 0; page < 10; page++) {
        const { transactions }: { transactions: any } = dataOf<any>(await as(rider, MY_TRANSACTIONS, { first: 2, after })).me.wallet;
        seen.push(...transactions.edges.map((edge: any) => edge.node));
        if (!transactions.pageInfo.hasNextPage) break;
        after = transactions.pageInfo.endCursor;
      }
      assert.deepEqual(
        seen.map((node) => [node.kind, node.status, node.amount.amount, node.trip?.id ?? null]),
        [
          ['TRIP_FARE', 'RELEASED', '15.00', tripId],
          ['TRIP_FARE', 'HELD', '-15.00', tripId],
          ['DEPOSIT', 'POSTED', '30.00', null],
          ['DEPOSIT', 'POSTED', '20.00', null],
          ['DEPOSIT', 'POSTED', '10.00', null],
        ],
      );
      assert.equal(new Set(seen.map((node) => node.id)).size, 5);
      assert.deepEqual(seen.map((node) => node.description), ['Fare hold released', 'Fare held for a trip', 'Deposit', 'Deposit', 'Deposit']);
    });

    it('describes a driver’s trip earnings with the fare and the commission', async () => {
      const driver = await world.stack.signUp('DRIVER');
      const riderId = randomUUID();
      await world.deposit(riderId, 10_000n);
      const tripId = await hold(riderId, '87.50');
      await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId: driver.id }));
      await world.settled(tripId, (transfers) => tripLedgerOf(transfers).commission !== null);
      const [entry] = dataOf<any>(await as(driver, MY_TRANSACTIONS)).me.wallet.transactions.edges.map((edge: any) => edge.node);
      assert.deepEqual([entry.kind, entry.status, entry.amount.amount, entry.description, entry.trip.id], ['TRIP_EARNINGS', 'POSTED', '74.37', 'Trip earnings: fare 87.50 EGP less commission 13.13 EGP', tripId]);
    });

    it('refuses a page size outside 1 to 100 and a cursor that is not one (BAD_USER_INPUT)', async () => {
      const rider = await world.stack.signUp('RIDER');
      await world.deposit(rider.id, 100n);
      for (const variables of [{ first: 0 }, { first: 101 }, { first: 5, after: 'not-a-cursor' }]) assertErrorCode(await as(rider, MY_TRANSACTIONS, variables), 'BAD_USER_INPUT');
    });
  });

  describe('Driver.earnings', () => {
    let driver: RideDriver;
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 3600_000).toISOString();

    before(async () => {
      driver = await fixtures.approvedDriver();
      // A WALLET trip, a CASH trip and a late cancellation's compensation.
      const riderId = randomUUID();
      await world.deposit(riderId, 20_000n);
      const walletTrip = await hold(riderId, '87.50');
      await world.publish(TripCompleted, completedTrip({ tripId: walletTrip, riderId, driverUserId: driver.id }));
      const cashTrip = randomUUID();
      await world.publish(TripCompleted, completedTrip({ tripId: cashTrip, riderId: randomUUID(), driverUserId: driver.id }, { paymentMethod: 'CASH', fareMinor: '6000', commissionMinor: '900' }));
      const cancelled = await hold(riderId, '40.00');
      await world.publish(TripCancelled, cancelledTrip({ tripId: cancelled, riderId, driverUserId: driver.id }, { feeMinor: '2500' }));
      await world.settled(cancelled, (transfers) => tripLedgerOf(transfers).driverShare !== null);
    });

    it('shows a driver their trips, fares, commission and what they keep over a period', async () => {
      const { earnings } = dataOf<any>(await as(driver, EARNINGS, { id: driver.driverId, from, to })).driver;
      assert.deepEqual(earnings, { from, to, trips: 2, gross: { amount: '172.50', currency: 'EGP' }, commission: { amount: '22.13' }, net: { amount: '150.37' } });
      const before = dataOf<any>(await as(driver, EARNINGS, { id: driver.driverId, from: '2026-01-01T00:00:00Z', to: from })).driver.earnings;
      assert.deepEqual([before.trips, before.gross.amount, before.net.amount], [0, '0.00', '0.00']);
    });

    it("refuses a driver's earnings to another driver and to riders, and shows them to admins", async () => {
      const other = await world.stack.signUp('DRIVER');
      const rider = await world.stack.signUp('RIDER');
      for (const user of [other, rider]) {
        const refused = await as(user, EARNINGS, { id: driver.driverId, from, to });
        assertErrorCode(refused, 'FORBIDDEN');
      }
      assert.equal(dataOf<any>(await as(admin, EARNINGS, { id: driver.driverId, from, to })).driver.earnings.trips, 2);
    });

    it('refuses a period that ends before it starts or spans more than 366 days (BAD_USER_INPUT)', async () => {
      for (const period of [{ from: to, to: from }, { from, to: from }, { from: '2024-01-01T00:00:00Z', to: '2025-01-02T00:00:01Z' }]) {
        const refused = await as(driver, EARNINGS, { id: driver.driverId, ...period });
        assertErrorCode(refused, 'BAD_USER_INPUT');
      }
    });
  });
});
