import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { balanceOf } from '../../../subgraphs/wallet/ledger/index.ts';
import { tripLedgerOf } from '../../../subgraphs/wallet/trip-ledger.ts';
import { assertErrorCode, dataOf, errorCodes, type GraphQLResult } from '../../support/client.ts';
import type { TestUser } from '../../support/stack.ts';
import { cancelledTrip, completedTrip, TripCancelled, TripCompleted, WalletStack } from './wallet-stack.ts';

const HOLD = `mutation($tripId: ID!, $riderId: ID!, $amount: MoneyInput!) { holdTripFare(tripId: $tripId, riderId: $riderId, amount: $amount) { status } }`;
const REFUND = `mutation($tripId: ID!, $amount: MoneyInput, $reason: String!, $key: String!) {
  refundTrip(tripId: $tripId, amount: $amount, reason: $reason, idempotencyKey: $key) { status amount { amount } refunded { amount } } }`;
const egp = (amount: string) => ({ amount, currency: 'EGP' });
const newKey = () => `refund-${randomUUID()}`;

describe('admin refunds of trips paid from the wallet', () => {
  let world: WalletStack;
  let admin: TestUser;

  before(async () => {
    world = await WalletStack.start();
    admin = await world.stack.admin();
  });
  after(() => world?.stop());
  afterEach(() => world.assertBalanced());

  const refund = (variables: { tripId: string; amount?: { amount: string; currency: string } | null; reason?: string; key?: string }, user = admin): Promise<GraphQLResult<any>> =>
    world.stack.query(REFUND, { reason: 'Driver took a longer route', key: newKey(), ...variables }, { token: user.accessToken });
  const riderPosted = async (riderId: string) => balanceOf((await world.ledger.findAccount('RIDER_WALLET', riderId))!).posted;
  const revenuePosted = async () => balanceOf(await world.ledger.account(await world.ledger.systemAccountId('PLATFORM_REVENUE'))).posted;

  /** A WALLET trip of 87.50 held, completed and settled: the rider is left with 12.50. */
  async function paidTrip() {
    const [riderId, driverUserId, tripId] = [randomUUID(), randomUUID(), randomUUID()];
    await world.deposit(riderId, 10_000n);
    dataOf(await world.asService(HOLD, { tripId, riderId, amount: egp('87.50') }));
    await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
    await world.settled(tripId, (transfers) => tripLedgerOf(transfers).commission !== null);
    return { riderId, driverUserId, tripId };
  }

  it('refunds part of the fare, then the rest, as reversals the platform bears (the driver keeps their share)', async () => {
    const { riderId, driverUserId, tripId } = await paidTrip();
    const revenue = await revenuePosted();
    assert.deepEqual(dataOf<any>(await refund({ tripId, amount: egp('20') })).refundTrip, { status: 'PARTIALLY_REFUNDED', amount: { amount: '87.50' }, refunded: { amount: '20.00' } });
    assert.equal(await riderPosted(riderId), 3_250n);
    assert.deepEqual(dataOf<any>(await refund({ tripId })).refundTrip, { status: 'REFUNDED', amount: { amount: '87.50' }, refunded: { amount: '87.50' } });
    assert.equal(await riderPosted(riderId), 10_000n);
    assert.equal(await revenuePosted(), revenue - 8_750n);
    assert.equal(balanceOf((await world.ledger.findAccount('DRIVER_WALLET', driverUserId))!).posted, 7_437n);
    const ledger = tripLedgerOf(await world.tripTransfers(tripId));
    assert.deepEqual(ledger.refunds.map((transfer) => [transfer.reversalOf, transfer.amount, transfer.code]), [[ledger.fare!.id, 2_000n, 'REFUND'], [ledger.fare!.id, 6_750n, 'REFUND']]);
  });

  it('refuses more than was paid (BAD_USER_INPUT) and more than is left (CONFLICT EXCEEDS_REFUNDABLE_AMOUNT), writing nothing', async () => {
    const { riderId, tripId } = await paidTrip();
    const tooMuch = await refund({ tripId, amount: egp('87.51') });
    assertErrorCode(tooMuch, 'BAD_USER_INPUT');
    assert.ok(tooMuch.body.errors![0]!.extensions!.fields['amount.amount']);
    dataOf(await refund({ tripId, amount: egp('80') }));
    const overLeft = await refund({ tripId, amount: egp('7.51') });
    assertErrorCode(overLeft, 'CONFLICT');
    assert.deepEqual([overLeft.body.errors![0]!.extensions!.reason, overLeft.body.errors![0]!.extensions!.refundableMinor], ['EXCEEDS_REFUNDABLE_AMOUNT', '750']);
    dataOf(await refund({ tripId }));
    assertErrorCode(await refund({ tripId }), 'CONFLICT');
    assert.equal(await riderPosted(riderId), 10_000n);
  });

  it('answers the first refund again for the same idempotency key, and CONFLICT for another amount under it', async () => {
    const { riderId, tripId } = await paidTrip();
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 5 }, () => refund({ tripId, amount: egp('10'), key })));
    for (const result of results) assert.equal(dataOf<any>(result).refundTrip.refunded.amount, '10.00');
    const reused = await refund({ tripId, amount: egp('11'), key });
    assertErrorCode(reused, 'CONFLICT');
    assert.equal(reused.body.errors![0]!.extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(await riderPosted(riderId), 2_250n);
  });

  it('lets concurrent full refunds under different keys refund the fare once', async () => {
    const { riderId, tripId } = await paidTrip();
    const results = await Promise.all(Array.from({ length: 8 }, () => refund({ tripId, amount: egp('87.50') })));
    assert.equal(results.filter((result) => !result.body.errors).length, 1);
    for (const refused of results.filter((result) => result.body.errors)) assert.deepEqual(errorCodes(refused), ['CONFLICT']);
    assert.equal(await riderPosted(riderId), 10_000n);
  });

  it('refunds a late-cancellation fee', async () => {
    const [riderId, driverUserId, tripId] = [randomUUID(), randomUUID(), randomUUID()];
    await world.deposit(riderId, 5_000n);
    dataOf(await world.asService(HOLD, { tripId, riderId, amount: egp('40') }));
    await world.publish(TripCancelled, cancelledTrip({ tripId, riderId, driverUserId }, { feeMinor: '2500' }));
    await world.settled(tripId, (transfers) => tripLedgerOf(transfers).driverShare !== null);
    assert.deepEqual(dataOf<any>(await refund({ tripId })).refundTrip, { status: 'REFUNDED', amount: { amount: '25.00' }, refunded: { amount: '25.00' } });
    assert.equal(await riderPosted(riderId), 5_000n);
  });

  it('refuses refunds of a CASH trip, of a fare only held, and of a trip without a payment', async () => {
    const cashTrip = randomUUID();
    await world.publish(TripCompleted, completedTrip({ tripId: cashTrip, riderId: randomUUID(), driverUserId: randomUUID() }, { paymentMethod: 'CASH' }));
    await world.settled(cashTrip, (transfers) => transfers.length > 0);
    const cash = await refund({ tripId: cashTrip });
    assertErrorCode(cash, 'CONFLICT');
    assert.equal(cash.body.errors![0]!.extensions!.reason, 'NOT_PAID_FROM_WALLET');
    const [riderId, heldTrip] = [randomUUID(), randomUUID()];
    await world.deposit(riderId, 5_000n);
    dataOf(await world.asService(HOLD, { tripId: heldTrip, riderId, amount: egp('40') }));
    const held = await refund({ tripId: heldTrip });
    assertErrorCode(held, 'CONFLICT');
    assert.equal(held.body.errors![0]!.extensions!.reason, 'NOT_CAPTURED');
    assertErrorCode(await refund({ tripId: randomUUID() }), 'NOT_FOUND');
  });

  it('refuses malformed refunds (BAD_USER_INPUT) and refunds by anyone but an admin (FORBIDDEN)', async () => {
    const { tripId, riderId } = await paidTrip();
    for (const bad of [{ amount: egp('0') }, { amount: egp('-1') }, { amount: egp('1.001') }, { amount: { amount: '1.00', currency: 'USD' } }, { amount: { amount: '1.00', currency: 'ABC' } }, { reason: ' ' }, { reason: 'x'.repeat(201) }, { key: 'short' }]) {
      assertErrorCode(await refund({ tripId, ...bad }), 'BAD_USER_INPUT');
    }
    assertErrorCode(await refund({ tripId: 'trip-1' }), 'BAD_USER_INPUT');
    for (const role of ['RIDER', 'DRIVER'] as const) assertErrorCode(await refund({ tripId }, await world.stack.signUp(role)), 'FORBIDDEN');
    assert.equal(await riderPosted(riderId), 1_250n);
  });
});
