import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { balanceOf, type TransferWithParties } from '../../../subgraphs/wallet/ledger/index.ts';
import type { PlannedLeg } from '../../../subgraphs/wallet/settlement.ts';
import { settlementKey, tripLedgerOf } from '../../../subgraphs/wallet/trip-ledger.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { waitFor } from '../../support/rides.ts';
import type { TestUser } from '../../support/stack.ts';
import { cancelledTrip, completedTrip, TripCancelled, TripCompleted, WalletStack } from './wallet-stack.ts';

const HOLD = `mutation($tripId: ID!, $riderId: ID!, $amount: MoneyInput!) { holdTripFare(tripId: $tripId, riderId: $riderId, amount: $amount) { status } }`;
const DEBT = `query($id: ID!) { driverCommissionDebt(driverUserId: $id) { debt { amount } canGoOnline } }`;
const PAYMENT = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Trip { payment {
  status method amount { amount currency } refunded { amount } breakdown { fare { amount } commission { amount } driverEarnings { amount } cancellationFee { amount } } } } } }`;

const sum = (transfers: TransferWithParties[], code: string) => transfers.filter((transfer) => transfer.code === code).reduce((total, transfer) => total + transfer.amount, 0n);
const count = (transfers: TransferWithParties[], predicate: (transfer: TransferWithParties) => boolean) => transfers.filter(predicate).length;

describe("settling trips' TripCompleted and TripCancelled on the ledger", () => {
  let world: WalletStack;
  let admin: TestUser;
  /** Set by a test: runs before each batch of legs (may throw, as a crash between legs would). */
  let beforeLegs: ((legs: readonly PlannedLeg[]) => void) | undefined;

  before(async () => {
    world = await WalletStack.start({ events: { maxAttempts: 3 }, wallet: { settlementHooks: { beforeLegs: (legs) => beforeLegs?.(legs) } } });
    admin = await world.stack.admin();
  });
  after(() => world?.stop());
  afterEach(async () => {
    beforeLegs = undefined;
    await world.assertBalanced();
  });

  /** A rider with `balance` in their wallet and the fare of a new trip held, as trips holds it at booking. */
  async function heldTrip(balance = 10_000n, fare = '87.50') {
    const riderId = randomUUID();
    const driverUserId = randomUUID();
    const tripId = randomUUID();
    await world.deposit(riderId, balance);
    assert.equal(dataOf<any>(await world.asService(HOLD, { tripId, riderId, amount: { amount: fare, currency: 'EGP' } })).holdTripFare.status, 'AUTHORIZED');
    return { riderId, driverUserId, tripId };
  }
  const posted = async (kind: 'RIDER_WALLET' | 'DRIVER_WALLET' | 'DRIVER_RECEIVABLE', ownerId: string) => {
    const account = await world.ledger.findAccount(kind, ownerId);
    return account ? balanceOf(account) : null;
  };
  const paymentOf = async (tripId: string, token = admin.accessToken, riderId: string = randomUUID()) =>
    world.stack.querySubgraph('wallet', PAYMENT, { reps: [{ __typename: 'Trip', id: tripId, rider: { id: riderId } }] }, { token });
  const commissionDone = (transfers: TransferWithParties[]) => tripLedgerOf(transfers).commission !== null;

  describe('completed trips', () => {
    it('a WALLET trip: the hold is posted, then split between the driver (fare − commission) and the platform (commission)', async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
      const transfers = await world.settled(tripId, commissionDone);
      const ledger = tripLedgerOf(transfers);
      assert.deepEqual([ledger.fare!.kind, ledger.fare!.pendingId, ledger.fare!.amount], ['POST_PENDING', ledger.hold!.id, 8_750n]);
      assert.deepEqual([ledger.driverShare!.amount, ledger.driverShare!.userData, ledger.driverShare!.creditAccount.ownerId], [7_437n, 8_750n, driverUserId]);
      assert.deepEqual([ledger.commission!.code, ledger.commission!.amount, ledger.commission!.creditAccount.kind], ['COMMISSION', 1_313n, 'PLATFORM_REVENUE']);
      const rider = (await posted('RIDER_WALLET', riderId))!;
      assert.deepEqual([rider.posted, rider.available, rider.pending], [1_250n, 1_250n, 0n]);
      assert.equal((await posted('DRIVER_WALLET', driverUserId))!.posted, 7_437n);
      assert.deepEqual(dataOf<any>(await paymentOf(tripId))._entities[0].payment, {
        status: 'CAPTURED',
        method: 'WALLET',
        amount: { amount: '87.50', currency: 'EGP' },
        refunded: { amount: '0.00' },
        breakdown: { fare: { amount: '87.50' }, commission: { amount: '13.13' }, driverEarnings: { amount: '74.37' }, cancellationFee: { amount: '0.00' } },
      });
    });

    it("a CASH trip: the commission is charged to the driver's wallet (below zero, within the limit), and the payment shows the cash fare", async () => {
      const [riderId, driverUserId, tripId] = [randomUUID(), randomUUID(), randomUUID()];
      await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }, { paymentMethod: 'CASH' }));
      const transfers = await world.settled(tripId, commissionDone);
      assert.deepEqual(transfers.map((transfer) => [transfer.code, transfer.amount, transfer.userData, transfer.debitAccount.kind]), [['CASH_COMMISSION', 1_313n, 8_750n, 'DRIVER_WALLET']]);
      assert.equal((await posted('DRIVER_WALLET', driverUserId))!.posted, -1_313n);
      assert.equal(await posted('RIDER_WALLET', riderId), null, "the rider's wallet is not involved");
      assert.deepEqual(dataOf<any>(await paymentOf(tripId))._entities[0].payment, {
        status: 'CAPTURED',
        method: 'CASH',
        amount: { amount: '87.50', currency: 'EGP' },
        refunded: { amount: '0.00' },
        breakdown: { fare: { amount: '87.50' }, commission: { amount: '13.13' }, driverEarnings: { amount: '74.37' }, cancellationFee: { amount: '0.00' } },
      });
    });

    it("records cash commission past the driver's debt limit on their receivable, and the debt keeps them offline until settled", async () => {
      const driverUserId = randomUUID();
      const trips = [randomUUID(), randomUUID(), randomUUID()];
      // 20.00 each against a 50.00 limit: the third would take the wallet to -60.00.
      for (const tripId of trips) {
        await world.publish(TripCompleted, completedTrip({ tripId, riderId: randomUUID(), driverUserId }, { paymentMethod: 'CASH', fareMinor: '13334', commissionMinor: '2000' }));
        await world.settled(tripId, commissionDone);
      }
      assert.equal((await posted('DRIVER_WALLET', driverUserId))!.posted, -4_000n);
      assert.equal((await posted('DRIVER_RECEIVABLE', driverUserId))!.posted, 2_000n);
      assert.deepEqual(dataOf<any>(await world.asService(DEBT, { id: driverUserId }, 'drivers')).driverCommissionDebt, { debt: { amount: '60.00' }, canGoOnline: false });
      await world.deposit(driverUserId, 10_000n, 'DRIVER_WALLET');
      assert.deepEqual(dataOf<any>(await world.asService(DEBT, { id: driverUserId }, 'drivers')).driverCommissionDebt, { debt: { amount: '0.00' }, canGoOnline: true });
    });

    it('a WALLET trip booked without a hold is paid from the wallet when it covers the fare', async () => {
      const [riderId, driverUserId, tripId] = [randomUUID(), randomUUID(), randomUUID()];
      await world.deposit(riderId, 9_000n);
      await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
      const ledger = tripLedgerOf(await world.settled(tripId, commissionDone));
      assert.deepEqual([ledger.hold, ledger.fare!.kind, ledger.fare!.amount, ledger.driverShare!.amount], [null, 'SINGLE', 8_750n, 7_437n]);
      assert.equal((await posted('RIDER_WALLET', riderId))!.posted, 250n);
    });

    it('a WALLET trip booked without a hold whose rider cannot pay moves nothing and is parked for reconciliation', async () => {
      const [riderId, driverUserId, tripId] = [randomUUID(), randomUUID(), randomUUID()];
      await world.deposit(riderId, 8_749n);
      const event = await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
      const parked = await waitFor(async () => (await world.parked()).find((row) => row.event_id === event.id), { what: 'the event to be parked', timeoutMs: 15_000 });
      assert.equal(parked.attempts, 3);
      assert.match(parked.last_error, /balance does not cover/);
      assert.deepEqual(await world.tripTransfers(tripId), []);
      assert.equal((await posted('RIDER_WALLET', riderId))!.posted, 8_749n);
    });
  });

  describe('cancelled trips', () => {
    it('a free cancellation releases the hold', async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      await world.publish(TripCancelled, cancelledTrip({ tripId, riderId, driverUserId }));
      const ledger = tripLedgerOf(await world.settled(tripId, (transfers) => tripLedgerOf(transfers).holdResolution !== null));
      assert.equal(ledger.holdResolution!.kind, 'VOID_PENDING');
      const rider = (await posted('RIDER_WALLET', riderId))!;
      assert.deepEqual([rider.posted, rider.available], [10_000n, 10_000n]);
      assert.equal(dataOf<any>(await paymentOf(tripId))._entities[0].payment.status, 'VOIDED');
    });

    it('a late cancellation posts the fee from the hold, releases the rest, and pays the driver the whole fee', async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      await world.publish(TripCancelled, cancelledTrip({ tripId, riderId, driverUserId }, { feeMinor: '2500' }));
      const ledger = tripLedgerOf(await world.settled(tripId, (transfers) => tripLedgerOf(transfers).driverShare !== null));
      assert.deepEqual([ledger.fee!.kind, ledger.fee!.amount, ledger.fee!.pendingId], ['POST_PENDING', 2_500n, ledger.hold!.id]);
      assert.deepEqual([ledger.driverShare!.code, ledger.driverShare!.amount], ['CANCELLATION_COMPENSATION', 2_500n]);
      const rider = (await posted('RIDER_WALLET', riderId))!;
      assert.deepEqual([rider.posted, rider.available], [7_500n, 7_500n]);
      assert.equal((await posted('DRIVER_WALLET', driverUserId))!.posted, 2_500n);
      assert.deepEqual(dataOf<any>(await paymentOf(tripId))._entities[0].payment, {
        status: 'CAPTURED',
        method: 'WALLET',
        amount: { amount: '25.00', currency: 'EGP' },
        refunded: { amount: '0.00' },
        breakdown: { fare: { amount: '0.00' }, commission: { amount: '0.00' }, driverEarnings: { amount: '25.00' }, cancellationFee: { amount: '25.00' } },
      });
    });

    it('a late cancellation with nothing held takes the fee from the wallet if it covers it, and otherwise lets it go', async () => {
      const [paying, broke, driverUserId] = [randomUUID(), randomUUID(), randomUUID()];
      await world.deposit(paying, 3_000n);
      const [paid, waived] = [randomUUID(), randomUUID()];
      const waivedEvent = await world.publish(TripCancelled, cancelledTrip({ tripId: waived, riderId: broke, driverUserId }, { feeMinor: '2500' }));
      await world.publish(TripCancelled, cancelledTrip({ tripId: paid, riderId: paying, driverUserId }, { feeMinor: '2500' }));
      await world.settled(paid, (transfers) => tripLedgerOf(transfers).driverShare !== null);
      // Events are applied in order: the waived one before.
      assert.deepEqual(await world.tripTransfers(waived), []);
      assert.equal((await posted('RIDER_WALLET', paying))!.posted, 500n);
      assert.equal((await posted('DRIVER_WALLET', driverUserId))!.posted, 2_500n);
      assert.ok(!(await world.parked()).some((row) => row.event_id === waivedEvent.id), 'a fee let go is not a failure');
    });
  });

  describe('exactly once', () => {
    /** A sentinel trip settled after `tripId`'s events proves they were all handled (one consumer, in stream order). */
    const drain = async () => {
      const sentinel = randomUUID();
      await world.publish(TripCompleted, completedTrip({ tripId: sentinel, riderId: randomUUID(), driverUserId: randomUUID() }, { paymentMethod: 'CASH' }));
      await world.settled(sentinel, commissionDone, 'the events before a sentinel to be handled');
    };
    const assertSettledOnce = (transfers: TransferWithParties[]) => {
      assert.equal(count(transfers, (t) => t.kind === 'PENDING'), 1, 'one hold');
      assert.equal(count(transfers, (t) => t.kind === 'POST_PENDING' || t.kind === 'VOID_PENDING'), 1, 'one resolution of it');
      assert.deepEqual([sum(transfers, 'DRIVER_EARNINGS'), sum(transfers, 'COMMISSION')], [7_437n, 1_313n]);
      assert.equal(transfers.length, 4);
    };

    it("settles a trip once when trips' relay publishes its TripCompleted twice (the same event id)", async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      const event = await world.recordTripEvent(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
      await world.settled(tripId, commissionDone);
      await event.republish();
      await drain();
      assertSettledOnce(await world.tripTransfers(tripId));
    });

    it('settles a trip once when its TripCompleted comes again under another event id', async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      const data = completedTrip({ tripId, riderId, driverUserId });
      await Promise.all([world.publish(TripCompleted, data), world.publish(TripCompleted, data)]);
      await world.settled(tripId, commissionDone);
      await world.publish(TripCompleted, data);
      await drain();
      assertSettledOnce(await world.tripTransfers(tripId));
      assert.equal((await posted('RIDER_WALLET', riderId))!.posted, 1_250n);
    });

    it('rolls back a settlement that fails between its legs, and settles it once when the event is retried', async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      let crashes = 0;
      beforeLegs = (legs) => {
        // The fare is posted (in this transaction); the driver's and platform's shares are next.
        if (crashes === 0 && legs.some((leg) => leg.tripId === tripId && leg.leg === 'driver')) {
          crashes += 1;
          throw new Error('the wallet died between the legs of a settlement');
        }
      };
      await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
      const transfers = await world.settled(tripId, commissionDone);
      assert.equal(crashes, 1);
      assertSettledOnce(transfers);
      assert.ok(!(await world.parked()).some((row) => row.last_error.includes('died between')), 'retried, not parked');
    });

    it('completes a settlement found half done and repeats nothing', async () => {
      const { riderId, driverUserId, tripId } = await heldTrip();
      // The fare was posted under the settlement's own key (by a replica that died before the rest).
      const hold = tripLedgerOf(await world.tripTransfers(tripId)).hold!;
      await world.ledger.post({ idempotencyKey: settlementKey(tripId, 'fare'), pendingId: hold.id, amount: 8_750n, code: 'TRIP_FARE', reference: tripId });
      await world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }));
      assertSettledOnce(await world.settled(tripId, commissionDone));
    });

    it('settles a burst of trips read together, each once', async () => {
      const trips = await Promise.all(Array.from({ length: 40 }, () => heldTrip()));
      await Promise.all(trips.map(({ riderId, driverUserId, tripId }) => world.publish(TripCompleted, completedTrip({ tripId, riderId, driverUserId }))));
      for (const { tripId } of trips) assertSettledOnce(await world.settled(tripId, commissionDone));
    });
  });

  describe('Trip.payment', () => {
    it("shows a payment to its rider (trips' rider for a CASH trip), its driver and admins, and refuses anyone else", async () => {
      const [rider, driver, stranger] = [await world.stack.signUp('RIDER'), await world.stack.signUp('DRIVER'), await world.stack.signUp('RIDER')];
      const tripId = randomUUID();
      await world.publish(TripCompleted, completedTrip({ tripId, riderId: rider.id, driverUserId: driver.id }, { paymentMethod: 'CASH' }));
      await world.settled(tripId, commissionDone);
      for (const user of [rider, driver, admin]) assert.equal(dataOf<any>(await paymentOf(tripId, user.accessToken, rider.id))._entities[0].payment.method, 'CASH');
      assertErrorCode(await paymentOf(tripId, stranger.accessToken, rider.id), 'FORBIDDEN');
    });

    it('is null before any money moved for the trip', async () => {
      assert.equal(dataOf<any>(await paymentOf(randomUUID()))._entities[0].payment, null);
    });

    it('loads the payments of many trips in one statement', async () => {
      const reps = Array.from({ length: 30 }, () => ({ __typename: 'Trip', id: randomUUID(), rider: { id: randomUUID() } }));
      world.stack.resetStatementCount();
      const { _entities } = dataOf<any>(await world.stack.querySubgraph('wallet', PAYMENT, { reps: [...reps, { __typename: 'Trip', id: 'not-a-uuid', rider: { id: 'x' } }] }, { token: admin.accessToken }));
      assert.equal(_entities.length, 31);
      assert.equal(world.stack.statementCount(), 1);
    });
  });
});
