import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import type { TestUser } from '../../support/stack.ts';
import { APPROVE, egp, newKey, PaymentsWorld, REQUEST_WITHDRAWAL, START_DEPOSIT } from './payments-fixture.ts';

const FLAGS = `query($userId: ID, $open: Boolean) { fraudFlags(userId: $userId, open: $open) { edges { node { id rule detail user { id } clearedAt clearedBy { id } clearNote } } } }`;
const CLEAR = `mutation($id: ID!, $note: String!) { clearFraudFlag(id: $id, note: $note) { id clearedAt clearNote } }`;

describe('fraud signals on money in and out', () => {
  let payments: PaymentsWorld;
  let admin: TestUser;

  before(async () => {
    payments = await PaymentsWorld.start({ env: { FRAUD_VELOCITY_PER_HOUR: '4', FRAUD_FAILED_DEPOSITS_PER_DAY: '3', FRAUD_DEPOSIT_WITHDRAW_PERCENT: '90' }, sandbox: { duplicateRate: 0 } });
    admin = await payments.stack.admin();
  });
  after(() => payments?.stop());
  afterEach(() => payments.world.assertBalanced());

  const flagsOf = async (user: TestUser, open: boolean | null = true) => dataOf<any>(await payments.as(admin, FLAGS, { userId: user.id, open })).fraudFlags.edges.map((edge: any) => edge.node);
  const withdraw = (driver: TestUser, amount: string) => payments.as(driver, REQUEST_WITHDRAWAL, { amount: egp(amount), key: newKey() });

  it('flags a withdrawal of most of what was just deposited, blocks it, and lets it through once an admin clears the flag', async () => {
    const driver = await payments.stack.signUp('DRIVER');
    await payments.deposit(driver, '100');
    const blocked = await withdraw(driver, '95');
    assertErrorCode(blocked, 'FORBIDDEN');
    assert.equal(blocked.body.errors![0]!.extensions!.reason, 'ACCOUNT_UNDER_REVIEW');
    assert.equal(await payments.count('withdrawals', `"owner_id" = ?`, [driver.id]), 0, 'nothing was held');
    const [flag] = await flagsOf(driver);
    assert.deepEqual([flag.rule, flag.user.id], ['DEPOSIT_THEN_WITHDRAW', driver.id]);
    assert.match(flag.detail, /95\.00 EGP after 100\.00 EGP/);
    assertErrorCode(await withdraw(driver, '10'), 'FORBIDDEN');

    const cleared = dataOf<any>(await payments.as(admin, CLEAR, { id: flag.id, note: 'Called the driver: genuine' })).clearFraudFlag;
    assert.equal(cleared.clearNote, 'Called the driver: genuine');
    assert.deepEqual(await flagsOf(driver), []);
    assert.equal((await flagsOf(driver, false))[0].clearedBy.id, admin.id);
    assertErrorCode(await payments.as(admin, CLEAR, { id: flag.id, note: 'again' }), 'CONFLICT');
    // A smaller withdrawal than the rule's threshold is not a signal.
    assert.equal(dataOf<any>(await withdraw(driver, '50')).requestWithdrawal.status, 'REQUESTED');
  });

  it('flags repeated declined deposits', async () => {
    const rider = await payments.stack.signUp('RIDER');
    for (let i = 0; i < 2; i++) await payments.checkout((await payments.startDeposit(rider, '10')).checkoutUrl, 'fail');
    assert.deepEqual(await flagsOf(rider), [], 'two declines are not yet a pattern');
    await payments.checkout((await payments.startDeposit(rider, '10')).checkoutUrl, 'fail');
    assert.deepEqual((await flagsOf(rider)).map((flag: any) => flag.rule), ['FAILED_DEPOSITS']);
  });

  it('flags more money movements in an hour than the limit, once, and holds the account’s approvals too', async () => {
    const driver = await payments.stack.signUp('DRIVER');
    await payments.world.deposit(driver.id, 10_000n, 'DRIVER_WALLET');
    const { id } = dataOf<any>(await withdraw(driver, '1')).requestWithdrawal;
    for (let i = 0; i < 5; i++) dataOf(await payments.as(driver, START_DEPOSIT, { amount: egp('5'), key: newKey() }));
    assert.deepEqual((await flagsOf(driver)).map((flag: any) => flag.rule), ['VELOCITY']);
    const approval = await payments.as(admin, APPROVE, { id });
    assertErrorCode(approval, 'FORBIDDEN');
    assert.equal(approval.body.errors![0]!.extensions!.reason, 'ACCOUNT_UNDER_REVIEW');
  });

  it('shows flags to admins only', async () => {
    const rider = await payments.stack.signUp('RIDER');
    assertErrorCode(await payments.as(rider, FLAGS, { userId: rider.id, open: true }), 'FORBIDDEN');
    assertErrorCode(await payments.as(rider, CLEAR, { id: '00000000-0000-4000-8000-000000000000', note: 'mine' }), 'FORBIDDEN');
    assertErrorCode(await payments.as(admin, CLEAR, { id: '00000000-0000-4000-8000-000000000000', note: 'none' }), 'NOT_FOUND');
  });
});
