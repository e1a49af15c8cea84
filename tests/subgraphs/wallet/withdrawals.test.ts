import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { balanceOf } from '../../../subgraphs/wallet/ledger/index.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import type { TestUser } from '../../support/stack.ts';
import { APPROVE, egp, newKey, PaymentsWorld, REJECT, REQUEST_WITHDRAWAL } from './payments-fixture.ts';

const WITHDRAWALS = `query($status: WithdrawalStatus) { withdrawals(status: $status, first: 50) { edges { node { id status amount { amount } user { id } } } } }`;

describe('withdrawals by drivers, decided by admins and paid out by the provider', () => {
  let payments: PaymentsWorld;
  let admin: TestUser;

  before(async () => {
    // The deposit-then-withdraw rule is the fraud suite's; here drivers' money is earnings, not deposits.
    payments = await PaymentsWorld.start({ env: { FRAUD_VELOCITY_PER_HOUR: '1000' } });
    admin = await payments.stack.admin();
  });
  after(() => payments?.stop());
  afterEach(() => payments.world.assertBalanced());

  /** A driver with `minor` of earnings in their wallet (paid in through the ledger, as settlement would). */
  async function driverWith(minor: bigint) {
    const driver = await payments.stack.signUp('DRIVER');
    await payments.world.deposit(driver.id, minor, 'DRIVER_WALLET');
    return driver;
  }
  const request = (driver: TestUser, amount: string, key = newKey()) => payments.as(driver, REQUEST_WITHDRAWAL, { amount: egp(amount), key });
  const driverBalance = async (driver: TestUser) => balanceOf((await payments.world.ledger.findAccount('DRIVER_WALLET', driver.id))!);

  it('holds the amount when requested, and takes it when the approved payout is paid', async () => {
    const driver = await driverWith(50_000n);
    const withdrawal = dataOf<any>(await request(driver, '300')).requestWithdrawal;
    assert.deepEqual([withdrawal.status, withdrawal.amount.amount, withdrawal.user.id], ['REQUESTED', '300.00', driver.id]);
    let balance = await driverBalance(driver);
    assert.deepEqual([balance.posted, balance.available], [50_000n, 20_000n], 'held, not yet taken');
    const listed = dataOf<any>(await payments.as(admin, WITHDRAWALS, { status: 'REQUESTED' })).withdrawals.edges.map((edge: any) => edge.node.id);
    assert.ok(listed.includes(withdrawal.id), 'admins see it waiting');

    assert.equal(dataOf<any>(await payments.as(admin, APPROVE, { id: withdrawal.id })).approveWithdrawal.status, 'PROCESSING');
    await payments.sandbox.idle();
    balance = await driverBalance(driver);
    assert.deepEqual([balance.posted, balance.available, balance.pending], [20_000n, 20_000n, 0n]);
    const wallet = await payments.wallet(driver);
    assert.deepEqual(wallet.withdrawals.edges.map((edge: any) => edge.node.status), ['PAID']);
    const payouts = balanceOf(await payments.world.ledger.account(await payments.world.ledger.systemAccountId('PAYOUTS')));
    assert.ok(payouts.posted >= 30_000n);
    assertErrorCode(await payments.as(admin, APPROVE, { id: withdrawal.id }), 'CONFLICT');
  });

  it('releases the hold when an admin rejects, and refuses a second decision', async () => {
    const driver = await driverWith(10_000n);
    const { id } = dataOf<any>(await request(driver, '60')).requestWithdrawal;
    const rejected = dataOf<any>(await payments.as(admin, REJECT, { id, reason: 'Bank details under review' })).rejectWithdrawal;
    assert.deepEqual([rejected.status, rejected.reason], ['REJECTED', 'Bank details under review']);
    assert.equal((await driverBalance(driver)).available, 10_000n);
    const again = await payments.as(admin, APPROVE, { id });
    assertErrorCode(again, 'CONFLICT');
    assert.equal(again.body.errors![0]!.extensions!.reason, 'ALREADY_DECIDED');
  });

  it('releases the hold when the payout fails', async () => {
    const driver = await driverWith(10_000n);
    // The sandbox fails payouts whose last two minor digits are 13, as gateways' test accounts do.
    const { id } = dataOf<any>(await request(driver, '40.13')).requestWithdrawal;
    dataOf(await payments.as(admin, APPROVE, { id }));
    await payments.sandbox.idle();
    const [node] = (await payments.wallet(driver)).withdrawals.edges.map((edge: any) => edge.node);
    assert.deepEqual([node.status, node.reason], ['FAILED', 'The bank refused the transfer (sandbox).']);
    const balance = await driverBalance(driver);
    assert.deepEqual([balance.posted, balance.available], [10_000n, 10_000n]);
  });

  it('refuses more than is available, though the wallet may carry commission debt (INSUFFICIENT_FUNDS, nothing written)', async () => {
    const driver = await driverWith(1_000n);
    const refused = await request(driver, '10.01');
    assertErrorCode(refused, 'INSUFFICIENT_FUNDS');
    assert.equal(await payments.count('withdrawals', `"owner_id" = ?`, [driver.id]), 0);
    assert.equal((await driverBalance(driver)).available, 1_000n);
  });

  it('keeps back what the driver owes on their commission receivable', async () => {
    const driver = await driverWith(10_000n);
    const receivable = await payments.world.ledger.openAccount({ kind: 'DRIVER_RECEIVABLE', ownerId: driver.id });
    await payments.world.ledger.transfer({ idempotencyKey: newKey(), debitAccountId: receivable.id, creditAccountId: await payments.world.ledger.systemAccountId('PLATFORM_REVENUE'), amount: 3_000n, code: 'CASH_COMMISSION', reference: randomUUID(), userData: 20_000n });
    const refused = await request(driver, '70.01');
    assertErrorCode(refused, 'INSUFFICIENT_FUNDS');
    assert.equal(refused.body.errors![0]!.extensions!.availableMinor, '7000');
    assert.equal(dataOf<any>(await request(driver, '70')).requestWithdrawal.status, 'REQUESTED');
  });

  it('accepts, of 20 concurrent requests of 30.00 against 100.00, only what the wallet covers', async () => {
    const driver = await driverWith(10_000n);
    const results = await Promise.all(Array.from({ length: 20 }, () => request(driver, '30')));
    const accepted = results.filter((result) => !result.body.errors);
    assert.equal(accepted.length, 3);
    for (const result of results.filter((r) => r.body.errors)) assertErrorCode(result, 'INSUFFICIENT_FUNDS');
    const balance = await driverBalance(driver);
    assert.deepEqual([balance.posted, balance.available], [10_000n, 1_000n]);
  });

  it('makes one withdrawal of 20 concurrent requests under one key, and refuses the key for another amount', async () => {
    const driver = await driverWith(10_000n);
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 20 }, () => request(driver, '25', key)));
    assert.equal(new Set(results.map((result) => dataOf<any>(result).requestWithdrawal.id)).size, 1);
    assert.equal((await driverBalance(driver)).available, 7_500n);
    const reused = await request(driver, '26', key);
    assertErrorCode(reused, 'CONFLICT');
    assert.equal(reused.body.errors![0]!.extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
  });

  it('lets only drivers withdraw and only admins decide, with clear codes for bad input', async () => {
    const rider = await payments.stack.signUp('RIDER');
    assertErrorCode(await request(rider, '5'), 'FORBIDDEN');
    const driver = await driverWith(5_000n);
    const { id } = dataOf<any>(await request(driver, '5')).requestWithdrawal;
    assertErrorCode(await payments.as(driver, APPROVE, { id }), 'FORBIDDEN');
    assertErrorCode(await payments.as(driver, WITHDRAWALS, {}), 'FORBIDDEN');
    assertErrorCode(await payments.as(admin, APPROVE, { id: 'not-a-uuid' }), 'BAD_USER_INPUT');
    assertErrorCode(await payments.as(admin, APPROVE, { id: '00000000-0000-4000-8000-000000000000' }), 'NOT_FOUND');
    assertErrorCode(await payments.as(admin, REJECT, { id, reason: '   ' }), 'BAD_USER_INPUT');
    for (const amount of ['0', '-1', '0.001', '1e2']) assertErrorCode(await request(driver, amount), 'BAD_USER_INPUT');
  });
});
