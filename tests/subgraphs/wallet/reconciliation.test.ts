import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { executeStatement } from '../../../platform/db.ts';
import { utcDay } from '../../../subgraphs/wallet/reconciliation.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { waitFor } from '../../support/rides.ts';
import type { TestUser } from '../../support/stack.ts';
import { completedTrip, TripCompleted } from './wallet-stack.ts';
import { APPROVE, egp, newKey, PaymentsWorld, REQUEST_WITHDRAWAL } from './payments-fixture.ts';

const REPORT = `query($date: String!) { reconciliationReport(date: $date) {
  date reconciled ledgerBalanced discrepancies { kind reference detail }
  depositsSucceeded deposited { amount } depositsFailed payoutsPaid paidOut { amount } providerEvents } }`;
const today = () => new Date().toISOString().slice(0, 10);

describe('the daily reconciliation report', () => {
  let payments: PaymentsWorld;
  let admin: TestUser;

  before(async () => {
    payments = await PaymentsWorld.start({ env: { FRAUD_VELOCITY_PER_HOUR: '1000' }, sandbox: { duplicateRate: 1 }, events: { maxAttempts: 2, retryAfterMs: 100 } });
    admin = await payments.stack.admin();
  });
  after(() => payments?.stop());

  const report = async () => dataOf<any>(await payments.as(admin, REPORT, { date: today() })).reconciliationReport;

  it('reconciles a day of deposits, a declined one, a payout and a settled trip', async () => {
    // Every result is delivered twice (duplicateRate 1): the report counts each once.
    const [rider, driver] = [await payments.stack.signUp('RIDER'), await payments.stack.signUp('DRIVER')];
    await payments.deposit(rider, '200');
    await payments.checkout((await payments.startDeposit(rider, '15')).checkoutUrl, 'fail');
    await payments.deposit(driver, '200');
    const { id } = dataOf<any>(await payments.as(driver, REQUEST_WITHDRAWAL, { amount: egp('50'), key: newKey() })).requestWithdrawal;
    dataOf(await payments.as(admin, APPROVE, { id }));
    await payments.sandbox.idle();
    const tripId = randomUUID();
    await payments.world.publish(TripCompleted, completedTrip({ tripId, riderId: rider.id, driverUserId: driver.id }));
    await payments.world.settled(tripId, (transfers) => transfers.some((transfer) => transfer.code === 'COMMISSION'));

    const day = await report();
    assert.deepEqual(day.discrepancies, []);
    assert.equal(day.reconciled, true);
    assert.equal(day.ledgerBalanced, true);
    assert.deepEqual([day.depositsSucceeded, day.deposited.amount, day.depositsFailed, day.payoutsPaid, day.paidOut.amount], [2, '400.00', 1, 1, '50.00']);
    assert.equal(day.providerEvents, 4, 'one recorded event per result; the duplicates were not recorded twice');
  });

  it('reports a transfer written behind the ledger’s back, and a deposit marked paid with the wrong transfer', async () => {
    const rider = await payments.stack.signUp('RIDER');
    const deposit = await payments.deposit(rider, '80');
    const wallet = await payments.world.ledger.findAccount('RIDER_WALLET', rider.id);
    const clearing = await payments.world.ledger.systemAccountId('PROVIDER_CLEARING');
    const db = payments.stack.subgraph('wallet').db.fork();
    // A deposit straight into the table: no intent, and the accounts' counters do not include it.
    const rogue = randomUUID();
    await executeStatement(db, `insert into "wallet"."ledger_transfers" ("id", "kind", "debit_account_id", "credit_account_id", "amount", "currency", "code") values (?, 'SINGLE', ?, ?, 5000, 'EGP', 'DEPOSIT')`, [rogue, clearing, wallet!.id]);
    // The rider's real deposit now points at the rogue transfer (of another amount).
    await executeStatement(db, `update "wallet"."payment_intents" set "deposit_transfer_id" = ? where "id" = ?`, [rogue, deposit.id]);

    const day = await report();
    assert.equal(day.reconciled, false);
    assert.equal(day.ledgerBalanced, false);
    const found = (kind: string) => day.discrepancies.filter((d: any) => d.kind === kind).map((d: any) => d.reference);
    assert.ok(found('ACCOUNT_COUNTERS_MISMATCH').includes(wallet!.id));
    assert.ok(found('ACCOUNT_COUNTERS_MISMATCH').includes(clearing));
    assert.deepEqual(found('DEPOSIT_AMOUNT_DIFFERS'), [deposit.id]);
    assert.ok(found('DEPOSIT_WITHOUT_INTENT').length >= 1, 'the deposit transfer no intent names any more');
  });

  it('reports a completed trip whose settlement was given up (parked), naming the trip', async () => {
    const [rider, driver] = [await payments.stack.signUp('RIDER'), await payments.stack.signUp('DRIVER')];
    const tripId = randomUUID();
    // A WALLET trip with no hold, whose rider's wallet is empty: settlement cannot take the fare.
    const event = await payments.world.publish(TripCompleted, completedTrip({ tripId, riderId: rider.id, driverUserId: driver.id }));
    await waitFor(async () => ((await payments.world.parked()).some((row) => row.event_id === event.id) ? true : undefined), { what: 'the event to be parked', timeoutMs: 15_000 });
    const notSettled = (await report()).discrepancies.filter((d: any) => d.kind === 'TRIP_NOT_SETTLED');
    assert.deepEqual(notSettled.map((d: any) => d.reference), [tripId]);
    assert.match(notSettled[0].detail, new RegExp(event.id));
  });

  it('refuses days that are not days or have not begun, and non-admins', async () => {
    for (const date of ['2026-02-30', '2026-1-5', 'yesterday', '9999-12-31']) assertErrorCode(await payments.as(admin, REPORT, { date }), 'BAD_USER_INPUT');
    const rider = await payments.stack.signUp('RIDER');
    assertErrorCode(await payments.as(rider, REPORT, { date: today() }), 'FORBIDDEN');
    assert.deepEqual(utcDay('2026-12-04', new Date('2026-12-04T23:59:59Z')), { from: new Date('2026-12-04T00:00:00Z'), to: new Date('2026-12-05T00:00:00Z') });
  });
});
