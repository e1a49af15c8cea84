import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { RideFixtures, type RideDriver } from '../../support/rides.ts';
import { startStack, type Stack } from '../../support/stack.ts';
import { WalletFunds } from '../../support/wallet-funds.ts';

const GO_ONLINE = `mutation { goOnline { id availability } }`;
const AVAILABILITY = `query($id: ID!) { driver(id: $id) { availability } }`;

/** The stack's commission debt limit: 50.00 EGP. */
const LIMIT = 5_000n;

describe('commission debt gates goOnline', () => {
  let stack: Stack;
  let fixtures: RideFixtures;
  let funds: WalletFunds;

  before(async () => {
    stack = await startStack({ subgraphs: ['drivers', 'wallet'], env: { WALLET_DRIVER_DEBT_LIMIT_MINOR: String(LIMIT) } });
    fixtures = new RideFixtures(stack);
    funds = new WalletFunds(stack);
  });
  after(async () => {
    await funds?.close();
    await fixtures?.dispose();
    await stack?.stop();
  });

  const goOnline = (driver: RideDriver) => stack.query(GO_ONLINE, {}, { token: driver.accessToken });
  const availabilityOf = async (driver: RideDriver) => dataOf<any>(await stack.query(AVAILABILITY, { id: driver.driverId }, { token: driver.accessToken })).driver.availability;

  it('lets a driver without debt, and one whose debt is under the limit, go online', async () => {
    const clean = await fixtures.approvedDriver();
    assert.equal(dataOf<any>(await goOnline(clean)).goOnline.availability, 'AVAILABLE');

    const owing = await fixtures.approvedDriver();
    await funds.chargeCashCommission(owing.id, LIMIT - 1n);
    assert.deepEqual(await funds.balance(owing.id, 'DRIVER_WALLET'), { posted: 1n - LIMIT, pending: 0n, available: 1n - LIMIT });
    assert.equal(dataOf<any>(await goOnline(owing)).goOnline.availability, 'AVAILABLE');
  });

  it('keeps a driver whose debt reached the limit OFFLINE with COMMISSION_DEBT_LIMIT, the debt and the limit', async () => {
    const driver = await fixtures.approvedDriver();
    await funds.chargeCashCommission(driver.id, 3_000n);
    await funds.chargeCashCommission(driver.id, LIMIT - 3_000n);
    const refused = await goOnline(driver);
    assertErrorCode(refused, 'COMMISSION_DEBT_LIMIT');
    const extensions = refused.body.errors![0].extensions!;
    assert.deepEqual(extensions.debt, { amount: '50.00', currency: 'EGP' });
    assert.deepEqual(extensions.limit, { amount: '50.00', currency: 'EGP' });
    assert.match(refused.body.errors![0].message, /settle/);
    assert.equal(await availabilityOf(driver), 'OFFLINE');
  });

  it('lets the driver go online once the debt is settled below the limit', async () => {
    const driver = await fixtures.approvedDriver();
    await funds.chargeCashCommission(driver.id, LIMIT);
    assertErrorCode(await goOnline(driver), 'COMMISSION_DEBT_LIMIT');
    await funds.deposit(driver.id, 2_000n, 'DRIVER_WALLET');
    assert.equal(dataOf<any>(await goOnline(driver)).goOnline.availability, 'AVAILABLE');
  });

  it('answers a missing profile before the debt', async () => {
    const user = await stack.signUp('DRIVER');
    await funds.chargeCashCommission(user.id, LIMIT);
    assertErrorCode(await stack.query(GO_ONLINE, {}, { token: user.accessToken }), 'NOT_FOUND');
  });
});

describe('goOnline while the wallet is unavailable', () => {
  let stack: Stack;
  let fixtures: RideFixtures;

  before(async () => {
    // No wallet in this stack: its URL is a closed port.
    stack = await startStack({ subgraphs: ['drivers'] });
    fixtures = new RideFixtures(stack);
  });
  after(async () => {
    await fixtures?.dispose();
    await stack?.stop();
  });

  it('lets the driver go online (fails open: the debt is recorded anyway and checked at the next goOnline)', async () => {
    const driver = await fixtures.approvedDriver();
    assert.equal(dataOf<any>(await stack.query(GO_ONLINE, {}, { token: driver.accessToken })).goOnline.availability, 'AVAILABLE');
  });
});
