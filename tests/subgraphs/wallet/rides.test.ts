import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { tripLedgerOf } from '../../../subgraphs/wallet/trip-ledger.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { offset, type RideDriver } from '../../support/rides.ts';
import type { TestUser } from '../../support/stack.ts';
import { newKey } from '../trips/quotes.ts';
import { ACCEPT, ARRIVE, COMPLETE, Rides, START } from '../trips/rides.ts';
import { WalletStack } from './wallet-stack.ts';

const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id status } }`;
const TRIP_PAYMENT = `query($id: ID!) { trip(id: $id) { id paymentMethod fare { amount } payment {
  status method amount { amount currency } breakdown { fare { amount } commission { amount } driverEarnings { amount } cancellationFee { amount } } } } }`;
const MY_WALLET = `query { me { wallet { balance { amount } available { amount } } } }`;
const RIDERS_WALLET = `query($id: ID!) { trip(id: $id) { rider { id wallet { balance { amount } } } } }`;

/** A whole ride through the router, as the apps drive it; the wallet settles it from trips' events. */
describe('rides paid through the router', () => {
  let world: WalletStack;
  let rides: Rides;

  before(async () => {
    world = await WalletStack.start({ subgraphs: ['drivers', 'trips', 'wallet'] });
    rides = new Rides(world.stack);
  });
  after(async () => {
    await rides?.dispose();
    await world?.stop();
  });
  afterEach(() => world.assertBalanced());

  /** A rider books (87.50 EGP, 15 % commission) near a driver who accepts, arrives, starts and completes the ride. */
  async function ride(rider: TestUser, paymentMethod: 'CASH' | 'WALLET'): Promise<{ tripId: string; driver: RideDriver }> {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 400));
    const quoteId = rides.sign(rider.id, { pickup, dropoff: offset(pickup, 3_000) });
    const { id: tripId } = dataOf<any>(await rides.as(rider, REQUEST, { input: { quoteId, paymentMethod }, key: newKey() })).requestTrip;
    await rides.pendingOffers(tripId);
    for (const step of [ACCEPT, ARRIVE, START, COMPLETE]) dataOf(await rides.as(driver, step, { id: tripId }));
    await world.settled(tripId, (transfers) => tripLedgerOf(transfers).commission !== null);
    return { tripId, driver };
  }
  const paymentSeenBy = async (user: TestUser, tripId: string) => dataOf<any>(await rides.as(user, TRIP_PAYMENT, { id: tripId })).trip;
  const breakdown = { fare: { amount: '87.50' }, commission: { amount: '13.13' }, driverEarnings: { amount: '74.37' }, cancellationFee: { amount: '0.00' } };

  it("a WALLET ride: the fare leaves the rider's wallet, the driver gets fare − commission, and both see the payment", async () => {
    const rider = await world.stack.signUp('RIDER');
    await world.deposit(rider.id, 10_000n);
    const { tripId, driver } = await ride(rider, 'WALLET');
    for (const user of [rider, driver]) {
      assert.deepEqual(await paymentSeenBy(user, tripId), {
        id: tripId,
        paymentMethod: 'WALLET',
        fare: { amount: '87.50' },
        payment: { status: 'CAPTURED', method: 'WALLET', amount: { amount: '87.50', currency: 'EGP' }, breakdown },
      });
    }
    assert.deepEqual(dataOf<any>(await rides.as(rider, MY_WALLET, {})).me.wallet, { balance: { amount: '12.50' }, available: { amount: '12.50' } });
    assert.deepEqual(dataOf<any>(await rides.as(driver, MY_WALLET, {})).me.wallet, { balance: { amount: '74.37' }, available: { amount: '74.37' } });
  });

  it("a CASH ride: the driver kept the fare, their wallet owes the commission, and the rider's wallet is untouched", async () => {
    const rider = await world.stack.signUp('RIDER');
    const { tripId, driver } = await ride(rider, 'CASH');
    for (const user of [rider, driver]) {
      assert.deepEqual((await paymentSeenBy(user, tripId)).payment, { status: 'CAPTURED', method: 'CASH', amount: { amount: '87.50', currency: 'EGP' }, breakdown });
    }
    assert.deepEqual(dataOf<any>(await rides.as(driver, MY_WALLET, {})).me.wallet, { balance: { amount: '-13.13' }, available: { amount: '-13.13' } });
    assert.deepEqual(dataOf<any>(await rides.as(rider, MY_WALLET, {})).me.wallet, { balance: { amount: '0.00' }, available: { amount: '0.00' } });
  });

  it("does not show the rider's wallet to the trip's driver through the trip (FORBIDDEN)", async () => {
    const rider = await world.stack.signUp('RIDER');
    const { tripId, driver } = await ride(rider, 'CASH');
    const seen = await rides.as(driver, RIDERS_WALLET, { id: tripId });
    assertErrorCode(seen, 'FORBIDDEN');
    assert.deepEqual(seen.body.errors![0]!.path, ['trip', 'rider', 'wallet']);
  });
});
