import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertErrorCode, dataOf, errorCodes } from '../../support/client.ts';
import type { TestUser } from '../../support/stack.ts';
import { holdKey } from '../../../subgraphs/wallet/trip-ledger.ts';
import { TEST_DEBT_LIMIT_MINOR, WalletStack } from './wallet-stack.ts';

const HOLD = `mutation($tripId: ID!, $riderId: ID!, $amount: MoneyInput!) { holdTripFare(tripId: $tripId, riderId: $riderId, amount: $amount) { tripId status amount { amount currency } } }`;
const HOLDS = `mutation($holds: [TripFareHoldInput!]!) { holdTripFares(holds: $holds) { tripId hold { tripId status amount { amount currency } } error { code message reason } } }`;
const RELEASE = `mutation($tripId: ID!) { releaseTripFare(tripId: $tripId) { tripId status amount { amount currency } } }`;
const DEBT = `query($id: ID!) { driverCommissionDebt(driverUserId: $id) { driverUserId debt { amount currency } limit { amount currency } canGoOnline } }`;
const WALLET = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { wallet { balance { amount } available { amount } pending { amount } } } } }`;
const egp = (amount: string) => ({ amount, currency: 'EGP' });

describe("wallet's service-only commands (trips' hold, drivers' debt check)", () => {
  let world: WalletStack;
  let admin: TestUser;

  before(async () => {
    world = await WalletStack.start();
    admin = await world.stack.admin();
  });
  after(() => world?.stop());
  afterEach(() => world.assertBalanced());

  const walletOf = async (userId: string) => dataOf<any>(await world.stack.querySubgraph('wallet', WALLET, { reps: [{ __typename: 'User', id: userId }] }, { token: admin.accessToken }))._entities[0].wallet;

  describe('holdTripFare', () => {
    it("holds the fare in the rider's wallet: available drops, the balance does not", async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 10_000n);
      const tripId = randomUUID();
      const { holdTripFare } = dataOf<any>(await world.asService(HOLD, { tripId, riderId, amount: egp('87.50') }));
      assert.deepEqual(holdTripFare, { tripId, status: 'AUTHORIZED', amount: egp('87.50') });
      assert.deepEqual(await walletOf(riderId), { balance: { amount: '100.00' }, available: { amount: '12.50' }, pending: { amount: '-87.50' } });
    });

    it('refuses to adopt a hold left open longer than half the orphan grace period (HOLD_EXPIRED): the maintenance may be voiding it', async () => {
      const riderId = randomUUID();
      const wallet = await world.deposit(riderId, 10_000n);
      const tripId = randomUUID();
      // A booking that died after its hold six minutes ago (the grace period is 10 minutes).
      await world.ledger.hold({ idempotencyKey: holdKey(tripId), debitAccountId: wallet.id, creditAccountId: await world.ledger.systemAccountId('TRIP_CLEARING'), amount: 4_000n, code: 'TRIP_FARE', reference: tripId, importedAt: new Date(Date.now() - 6 * 60_000) });
      const retried = await world.asService(HOLD, { tripId, riderId, amount: egp('40') });
      assertErrorCode(retried, 'CONFLICT');
      assert.equal(retried.body.errors![0]!.extensions!.reason, 'HOLD_EXPIRED');
      assert.equal((await world.tripTransfers(tripId)).length, 1, 'nothing more was held');
    });

    it('holds once per trip: the same call answers the same hold, another amount or rider is CONFLICT', async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 50_000n);
      const tripId = randomUUID();
      const calls = await Promise.all(Array.from({ length: 10 }, () => world.asService(HOLD, { tripId, riderId, amount: egp('40') })));
      for (const call of calls) assert.deepEqual(dataOf<any>(call).holdTripFare, { tripId, status: 'AUTHORIZED', amount: egp('40.00') });
      const holds = (await world.tripTransfers(tripId)).filter((transfer) => transfer.kind === 'PENDING');
      assert.equal(holds.length, 1);
      for (const other of [{ tripId, riderId, amount: egp('41') }, { tripId, riderId: randomUUID(), amount: egp('40') }]) {
        const refused = await world.asService(HOLD, other);
        assertErrorCode(refused, 'CONFLICT');
        assert.equal(refused.body.errors![0]!.extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
      }
      assert.deepEqual((await walletOf(riderId)).available, { amount: '460.00' });
    });

    it('refuses a fare the available balance does not cover with INSUFFICIENT_FUNDS, and holds nothing', async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 5_000n);
      const tripId = randomUUID();
      assertErrorCode(await world.asService(HOLD, { tripId, riderId, amount: egp('50.01') }), 'INSUFFICIENT_FUNDS');
      assert.deepEqual(await world.tripTransfers(tripId), []);
      // A rider with no wallet yet has nothing to hold either.
      assertErrorCode(await world.asService(HOLD, { tripId: randomUUID(), riderId: randomUUID(), amount: egp('1') }), 'INSUFFICIENT_FUNDS');
      // The refused hold kept no key: once the wallet covers it, the same trip holds.
      await world.deposit(riderId, 1n);
      assert.equal(dataOf<any>(await world.asService(HOLD, { tripId, riderId, amount: egp('50.01') })).holdTripFare.status, 'AUTHORIZED');
    });

    it('refuses zero, negative, fractional-minor-unit, absurd and unknown-currency amounts, and ids that are not uuids (BAD_USER_INPUT), writing nothing', async () => {
      const riderId = randomUUID();
      const tripId = randomUUID();
      const bad = [
        { tripId, riderId, amount: egp('0') },
        { tripId, riderId, amount: egp('-5.00') },
        { tripId, riderId, amount: egp('12.345') },
        { tripId, riderId, amount: egp('99999999999999.99') },
        { tripId, riderId, amount: egp('1e3') },
        { tripId, riderId, amount: { amount: '10.00', currency: 'XYZ' } },
        { tripId: 'trip-1', riderId, amount: egp('10.00') },
        { tripId, riderId: 'rider-1', amount: egp('10.00') },
      ];
      for (const variables of bad) {
        const refused = await world.asService(HOLD, variables);
        assertErrorCode(refused, 'BAD_USER_INPUT');
        assert.ok(Object.keys(refused.body.errors![0]!.extensions!.fields ?? {}).length > 0, JSON.stringify(refused.body.errors));
      }
      assert.deepEqual(await world.tripTransfers(tripId), []);
    });
  });

  describe('holdTripFares', () => {
    const held = (tripId: string, amount: string, status = 'AUTHORIZED') => ({ tripId, hold: { tripId, status, amount: egp(amount) }, error: null });
    const refused = (result: any) => [result.hold, result.error?.code, result.error?.reason];

    it('answers every hold of a batch on its own: held, replayed, insufficient, conflicting, expired, malformed', async () => {
      const [rich, poor, newcomer] = [randomUUID(), randomUUID(), randomUUID()];
      const wallet = await world.deposit(rich, 10_000n);
      await world.deposit(poor, 1_000n);
      const [fresh, again, short, stale] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      dataOf(await world.asService(HOLD, { tripId: again, riderId: rich, amount: egp('20') }));
      // A booking that died after its hold six minutes ago (the grace period is 10 minutes).
      await world.ledger.hold({ idempotencyKey: holdKey(stale), debitAccountId: wallet.id, creditAccountId: await world.ledger.systemAccountId('TRIP_CLEARING'), amount: 500n, code: 'TRIP_FARE', reference: stale, importedAt: new Date(Date.now() - 6 * 60_000) });

      const results = dataOf<any>(
        await world.asService(HOLDS, {
          holds: [
            { tripId: fresh, riderId: rich, amount: egp('40') },
            { tripId: again, riderId: rich, amount: egp('20') },
            { tripId: short, riderId: poor, amount: egp('10.01') },
            { tripId: again, riderId: rich, amount: egp('21') },
            { tripId: again, riderId: poor, amount: egp('20') },
            { tripId: stale, riderId: rich, amount: egp('5') },
            { tripId: randomUUID(), riderId: newcomer, amount: egp('1') },
            { tripId: 'not-a-trip', riderId: rich, amount: egp('1') },
            { tripId: randomUUID(), riderId: rich, amount: egp('0') },
          ],
        }),
      ).holdTripFares;
      assert.equal(results.length, 9);
      assert.deepEqual(results[0], held(fresh, '40.00'));
      assert.deepEqual(results[1], held(again, '20.00'), 'the same hold again');
      assert.deepEqual(refused(results[2]), [null, 'INSUFFICIENT_FUNDS', null]);
      assert.deepEqual(refused(results[3]), [null, 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED']);
      assert.deepEqual(refused(results[4]), [null, 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED']);
      assert.deepEqual(refused(results[5]), [null, 'CONFLICT', 'HOLD_EXPIRED']);
      assert.deepEqual(refused(results[6]), [null, 'INSUFFICIENT_FUNDS', null], 'a rider who never paid anything in');
      assert.deepEqual([results[7].tripId, ...refused(results[7])], ['not-a-trip', null, 'BAD_USER_INPUT', null]);
      assert.deepEqual(refused(results[8]), [null, 'BAD_USER_INPUT', null]);

      assert.deepEqual((await world.tripTransfers(fresh)).map((transfer) => [transfer.kind, transfer.amount]), [['PENDING', 4_000n]]);
      assert.equal((await world.tripTransfers(again)).length, 1);
      assert.deepEqual(await world.tripTransfers(short), []);
      assert.equal((await world.tripTransfers(stale)).length, 1);
      assert.deepEqual(await walletOf(rich), { balance: { amount: '100.00' }, available: { amount: '35.00' }, pending: { amount: '-65.00' } });
      assert.deepEqual(await walletOf(poor), { balance: { amount: '10.00' }, available: { amount: '10.00' }, pending: { amount: '0.00' } });
    });

    it('holds a trip once however many batches race for it, each answered with the same hold', async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 100_000n);
      const shared = randomUUID();
      const own = Array.from({ length: 10 }, () => randomUUID());
      const calls = await Promise.all(own.map((tripId) => world.asService(HOLDS, { holds: [{ tripId: shared, riderId, amount: egp('40') }, { tripId, riderId, amount: egp('10') }] })));
      calls.forEach((call, i) => assert.deepEqual(dataOf<any>(call).holdTripFares, [held(shared, '40.00'), held(own[i]!, '10.00')]));
      assert.equal((await world.tripTransfers(shared)).filter((transfer) => transfer.kind === 'PENDING').length, 1);
      for (const tripId of own) assert.equal((await world.tripTransfers(tripId)).length, 1);
      assert.deepEqual((await walletOf(riderId)).available, { amount: `${(1_000 - 40 - 100).toFixed(2)}` });
    });

    it("holds a trip once even after its hold's idempotency key was purged: asked again, it answers the first hold, covered or not", async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 10_000n);
      const [covered, uncovered, voided, fresh] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      for (const [tripId, amount] of [[covered, '10'], [uncovered, '70'], [voided, '5']] as const) dataOf(await world.asService(HOLD, { tripId, riderId, amount: egp(amount) }));
      dataOf(await world.asService(RELEASE, { tripId: voided }));
      // A day and more later: the keys are gone, the holds are not.
      assert.ok((await world.ledger.purgeIdempotencyKeys(new Date(Date.now() + 25 * 3_600_000))) >= 4);

      const results = dataOf<any>(
        await world.asService(HOLDS, {
          holds: [
            // The wallet still covers it: the ledger would make it again, the database refuses.
            { tripId: covered, riderId, amount: egp('10') },
            // 70 held of 100, 15 available: the ledger refuses it before the database could.
            { tripId: uncovered, riderId, amount: egp('70') },
            { tripId: voided, riderId, amount: egp('5') },
            { tripId: covered, riderId, amount: egp('11') },
            { tripId: fresh, riderId, amount: egp('1') },
          ],
        }),
      ).holdTripFares;
      assert.deepEqual(results.slice(0, 3), [held(covered, '10.00'), held(uncovered, '70.00'), held(voided, '5.00', 'VOIDED')]);
      assert.deepEqual(refused(results[3]), [null, 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED']);
      assert.deepEqual(results[4], held(fresh, '1.00'), 'a hold of the same batch is not refused with it');
      for (const tripId of [covered, uncovered, voided, fresh]) assert.equal((await world.tripTransfers(tripId)).filter((transfer) => transfer.kind === 'PENDING').length, 1);
      assert.deepEqual((await walletOf(riderId)).available, { amount: '19.00' });
    });

    it('holds the same trip twice in one batch once; refuses a list longer than 200 (BAD_USER_INPUT) and answers an empty one', async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 10_000n);
      const tripId = randomUUID();
      const twice = dataOf<any>(await world.asService(HOLDS, { holds: [{ tripId, riderId, amount: egp('30') }, { tripId, riderId, amount: egp('30') }] })).holdTripFares;
      assert.deepEqual(twice, [held(tripId, '30.00'), held(tripId, '30.00')]);
      assert.equal((await world.tripTransfers(tripId)).length, 1);

      const tooMany = Array.from({ length: 201 }, () => ({ tripId: randomUUID(), riderId, amount: egp('1') }));
      assertErrorCode(await world.asService(HOLDS, { holds: tooMany }), 'BAD_USER_INPUT');
      assert.deepEqual(await world.tripTransfers(tooMany[0]!.tripId), []);
      assert.deepEqual(dataOf<any>(await world.asService(HOLDS, { holds: [] })).holdTripFares, []);
    });
  });

  describe('releaseTripFare', () => {
    it('releases the hold, then answers the same again; null when nothing was held', async () => {
      const riderId = randomUUID();
      await world.deposit(riderId, 10_000n);
      const tripId = randomUUID();
      dataOf(await world.asService(HOLD, { tripId, riderId, amount: egp('30') }));
      for (let i = 0; i < 2; i++) assert.deepEqual(dataOf<any>(await world.asService(RELEASE, { tripId })).releaseTripFare, { tripId, status: 'VOIDED', amount: egp('30.00') });
      assert.deepEqual(await walletOf(riderId), { balance: { amount: '100.00' }, available: { amount: '100.00' }, pending: { amount: '0.00' } });
      assert.equal(dataOf<any>(await world.asService(RELEASE, { tripId: randomUUID() })).releaseTripFare, null);
      // A released trip holds no more: trips books again under a new id.
      assert.equal(dataOf<any>(await world.asService(HOLD, { tripId, riderId, amount: egp('30') })).holdTripFare.status, 'VOIDED');
    });
  });

  describe('driverCommissionDebt', () => {
    it('owes nothing without a wallet, and lets the driver go online', async () => {
      const driverUserId = randomUUID();
      assert.deepEqual(dataOf<any>(await world.asService(DEBT, { id: driverUserId }, 'drivers')).driverCommissionDebt, {
        driverUserId,
        debt: egp('0.00'),
        limit: egp((Number(TEST_DEBT_LIMIT_MINOR) / 100).toFixed(2)),
        canGoOnline: true,
      });
    });
  });

  describe('who may call them', () => {
    it('refuses them to signed-in users (FORBIDDEN) and the router does not know them', async () => {
      const rider = await world.stack.signUp('RIDER');
      const variables = { tripId: randomUUID(), riderId: rider.id, amount: egp('1') };
      assertErrorCode(await world.stack.querySubgraph('wallet', HOLD, variables, { token: rider.accessToken }), 'FORBIDDEN');
      assertErrorCode(await world.stack.querySubgraph('wallet', DEBT, { id: rider.id }, { token: admin.accessToken }), 'FORBIDDEN');
      assertErrorCode(await world.stack.querySubgraph('wallet', HOLDS, { holds: [variables] }, { token: rider.accessToken }), 'FORBIDDEN');
      for (const [query, vars] of [[HOLD, variables], [HOLDS, { holds: [variables] }], [RELEASE, { tripId: randomUUID() }], [DEBT, { id: rider.id }]] as const) {
        const viaRouter = await world.stack.query(query, vars, { token: admin.accessToken });
        assert.deepEqual([...new Set(errorCodes(viaRouter))], ['GRAPHQL_VALIDATION_FAILED'], JSON.stringify(viaRouter.body));
      }
    });
  });
});
