import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDemoCity } from '../../../platform/demo-city.ts';
import { walletSubgraph } from '../../../subgraphs/wallet/index.ts';
import { Payment, Wallet } from '../../../subgraphs/wallet/entities.ts';
import { dataOf } from '../../support/client.ts';
import { startStack, type Stack } from '../../support/stack.ts';

const WALLET_ENTITY = `query Entities($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { wallet { balance { amount currency } } } } }`;

describe('wallet demo seed', () => {
  let stack: Stack;
  const city = buildDemoCity();

  before(async () => {
    stack = await startStack({ subgraphs: ['wallet'] });
  });
  after(() => stack?.stop());

  const seed = () => walletSubgraph.seedDemo!(stack.subgraph('wallet').runtime, city);

  it('gives every demo rider 250.00 EGP and every completed trip a captured payment, and seeding twice changes nothing', async () => {
    await seed();
    await seed();
    const em = stack.subgraph('wallet').db.fork();
    const completed = city.trips.filter((trip) => trip.status === 'COMPLETED');
    assert.ok(completed.length > 0);
    assert.equal(await em.count(Wallet), city.riders.length);
    const payments = await em.find(Payment, {});
    assert.equal(payments.length, completed.length);
    for (const trip of completed) {
      const payment = payments.find((p) => p.tripId === trip.id)!;
      const driver = city.drivers.find((d) => d.id === trip.driverId);
      assert.equal(payment.status, 'CAPTURED');
      assert.equal(payment.payerUserId, trip.riderId);
      assert.equal(payment.payeeUserId, driver?.userId ?? null);
      assert.equal(payment.amountMinor, trip.fareMinor);
      assert.equal(payment.method, trip.paymentMethod);
    }
  });

  it("shows a demo rider's seeded balance to an admin", async () => {
    await seed();
    const admin = await stack.admin();
    const reps = [{ __typename: 'User', id: city.riders[0].id }];
    const { _entities } = dataOf(await stack.querySubgraph('wallet', WALLET_ENTITY, { reps }, { token: admin.accessToken }));
    assert.deepEqual(_entities, [{ wallet: { balance: { amount: '250.00', currency: 'EGP' } } }]);
  });
});

