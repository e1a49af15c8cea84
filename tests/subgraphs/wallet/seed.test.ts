import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDemoCity } from '../../../platform/demo-city.ts';
import { executeStatement } from '../../../platform/db.ts';
import { walletSubgraph } from '../../../subgraphs/wallet/index.ts';
import { describeCheck, Ledger } from '../../../subgraphs/wallet/ledger/index.ts';
import { tripLedgerOf } from '../../../subgraphs/wallet/trip-ledger.ts';
import { dataOf } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';

const WALLET_ENTITY = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { wallet { balance { amount currency } available { amount } } } } }`;
const PAYMENT = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Trip { id payment { status method amount { amount } breakdown { commission { amount } driverEarnings { amount } } } } } }`;

describe("the wallet's demo seed: the demo city's history as ledger transfers", () => {
  let stack: Stack;
  let ledger: Ledger;
  let admin: TestUser;
  const city = buildDemoCity();

  before(async () => {
    stack = await startStack({ subgraphs: ['wallet'] });
    ledger = new Ledger(stack.subgraph('wallet').db);
    admin = await stack.admin();
  });
  after(async () => {
    await ledger?.close();
    await stack?.stop();
  });

  const seed = () => walletSubgraph.seedDemo!(stack.subgraph('wallet').runtime, city);
  const countTransfers = async () => (await executeStatement<{ n: number }>(stack.subgraph('wallet').db.fork(), `select count(*)::int as "n" from "wallet"."ledger_transfers"`))[0]!.n;

  it('is balanced, and seeding again (every start does) moves nothing', async () => {
    await seed();
    const written = await countTransfers();
    assert.ok(written > city.trips.length, `${written} transfers`);
    await seed();
    await seed();
    assert.equal(await countTransfers(), written);
    const check = await ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  });

  it('leaves every demo rider 250.00 EGP to spend', async () => {
    const reps = city.riders.map((rider) => ({ __typename: 'User', id: rider.id }));
    const { _entities } = dataOf<any>(await stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: admin.accessToken }));
    for (const entity of _entities) assert.deepEqual(entity.wallet, { balance: { amount: '250.00', currency: 'EGP' }, available: { amount: '250.00' } });
  });

  it("settled each finished demo trip as the consumer would: completed ones captured with their fare and 15 % commission, cancelled WALLET ones' holds released", async () => {
    const reps = city.trips.map((trip) => ({ __typename: 'Trip', id: trip.id, rider: { id: trip.riderId } }));
    const { _entities } = dataOf<any>(await stack.querySubgraph('wallet', PAYMENT, { reps }, { token: admin.accessToken }));
    const kinds = new Set<string>();
    for (const [i, trip] of city.trips.entries()) {
      const { payment } = _entities[i];
      const money = (minor: bigint) => (Number(minor) / 100).toFixed(2);
      const commission = (trip.fareMinor * 1_500n + 5_000n) / 10_000n;
      if (trip.status === 'COMPLETED') {
        assert.deepEqual(payment, { status: 'CAPTURED', method: trip.paymentMethod, amount: { amount: money(trip.fareMinor) }, breakdown: { commission: { amount: money(commission) }, driverEarnings: { amount: money(trip.fareMinor - commission) } } }, trip.id);
      } else if (trip.paymentMethod === 'WALLET') {
        assert.equal(payment.status, 'VOIDED', trip.id);
      } else {
        assert.equal(payment, null, trip.id);
      }
      kinds.add(`${trip.status}/${trip.paymentMethod}`);
    }
    assert.deepEqual([...kinds].sort(), ['CANCELLED/CASH', 'CANCELLED/WALLET', 'COMPLETED/CASH', 'COMPLETED/WALLET']);
  });

  it('stamps every transfer with when it happened', async () => {
    const transfers = await ledger.transfersByReferences(city.trips.map((trip) => trip.id));
    for (const trip of city.trips.filter((t) => t.status === 'COMPLETED')) {
      const mine = tripLedgerOf(transfers.filter((transfer) => transfer.reference === trip.id));
      assert.equal(mine.commission!.createdAt.toISOString(), trip.completedAt!.toISOString());
      if (mine.hold) assert.equal(mine.hold.createdAt.toISOString(), trip.requestedAt.toISOString());
    }
  });
});
