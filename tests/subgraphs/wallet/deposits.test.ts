import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import type { TestUser } from '../../support/stack.ts';
import { egp, newKey, PaymentsWorld, START_DEPOSIT } from './payments-fixture.ts';

describe('deposits through the payment provider', () => {
  let payments: PaymentsWorld;
  let admin: TestUser;

  before(async () => {
    payments = await PaymentsWorld.start();
    admin = await payments.stack.admin();
  });
  after(() => payments?.stop());
  afterEach(() => payments.world.assertBalanced());

  it('credits a rider once when the hosted checkout is paid, though the provider sends the webhook twice', async () => {
    const rider = await payments.stack.signUp('RIDER');
    const deposit = await payments.startDeposit(rider, '250');
    assert.equal(deposit.status, 'PENDING');
    assert.match(deposit.checkoutUrl, /^http:\/\/public\.smartline\.test\/sandbox-payments\/checkout\?session=/);
    assert.equal((await payments.wallet(rider)).balance.amount, '0.00', 'nothing is credited before the provider confirms');

    const page = await fetch(payments.throughRouter(deposit.checkoutUrl));
    assert.match(await page.text(), /250\.00 EGP/, 'the checkout page shows the amount');
    assert.equal((await payments.checkout(deposit.checkoutUrl, 'succeed')).status, 200);

    const wallet = await payments.wallet(rider);
    assert.deepEqual([wallet.balance.amount, wallet.available.amount], ['250.00', '250.00']);
    assert.deepEqual(wallet.deposits.edges.map((edge: any) => [edge.node.id, edge.node.status, edge.node.amount.amount]), [[deposit.id, 'SUCCEEDED', '250.00']]);
    const row = await payments.intentRow(deposit.id);
    assert.equal(await payments.count('payment_provider_events', `"object_reference" = ? and "outcome" = 'APPLIED'`, [row.provider_reference]), 1, 'one event applied; its duplicate was recognised');
  });

  it('fails a declined deposit and moves nothing', async () => {
    const rider = await payments.stack.signUp('RIDER');
    const deposit = await payments.startDeposit(rider, '40');
    await payments.checkout(deposit.checkoutUrl, 'fail');
    const wallet = await payments.wallet(rider);
    assert.equal(wallet.balance.amount, '0.00');
    assert.equal(wallet.deposits.edges[0].node.status, 'FAILED');
    assert.match(wallet.deposits.edges[0].node.failureReason, /declined/);
  });

  it('credits a driver wallet when a driver deposits (settling commission debt)', async () => {
    const driver = await payments.stack.signUp('DRIVER');
    await payments.deposit(driver, '30');
    assert.equal((await payments.world.ledger.findAccount('DRIVER_WALLET', driver.id))!.creditsPosted, 3_000n);
  });

  it('answers the same deposit for the same idempotency key, and CONFLICT for another amount under it', async () => {
    const rider = await payments.stack.signUp('RIDER');
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 10 }, () => payments.as(rider, START_DEPOSIT, { amount: egp('75.5'), key })));
    const ids = new Set(results.map((result) => dataOf<any>(result).startDeposit.id));
    assert.equal(ids.size, 1);
    const reused = await payments.as(rider, START_DEPOSIT, { amount: egp('76'), key });
    assertErrorCode(reused, 'CONFLICT');
    assert.equal(reused.body.errors![0]!.extensions!.reason, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(await payments.count('payment_intents', `"owner_id" = ?`, [rider.id]), 1);
  });

  it('refuses bad amounts and currencies with BAD_USER_INPUT, writing nothing', async () => {
    const rider = await payments.stack.signUp('RIDER');
    for (const amount of [egp('0'), egp('-5'), egp('1.005'), egp('100000.01'), egp('1e3'), egp('9999999999999999'), { amount: '10', currency: 'XXX' }, { amount: '10', currency: 'USD' }]) {
      assertErrorCode(await payments.as(rider, START_DEPOSIT, { amount, key: newKey() }), 'BAD_USER_INPUT');
    }
    assertErrorCode(await payments.as(rider, START_DEPOSIT, { amount: egp('10'), key: 'short' }), 'BAD_USER_INPUT');
    assert.equal(await payments.count('payment_intents', `"owner_id" = ?`, [rider.id]), 0);
  });

  it('lets only riders and drivers deposit, into their own wallet', async () => {
    assertErrorCode(await payments.as(admin, START_DEPOSIT, { amount: egp('10'), key: newKey() }), 'FORBIDDEN');
    assertErrorCode(await payments.stack.query(START_DEPOSIT, { amount: egp('10'), key: newKey() }), 'UNAUTHENTICATED');
    const [rider, other] = [await payments.stack.signUp('RIDER'), await payments.stack.signUp('RIDER')];
    await payments.deposit(rider, '20');
    const peek = await payments.as(other, `query($id: ID!) { _entities(representations: [{ __typename: "User", id: $id }]) { ... on User { wallet { balance { amount } } } } }`, { id: rider.id });
    assert.notEqual(peek.body.data?._entities?.[0]?.wallet?.balance?.amount, '20.00', 'another rider never reads the wallet');
  });
});

describe('the payment webhook', () => {
  let payments: PaymentsWorld;

  before(async () => {
    // The provider sends nothing by itself here: each test delivers the events it means to.
    payments = await PaymentsWorld.start({ sandbox: { duplicateRate: 0 } });
  });
  after(() => payments?.stop());
  afterEach(() => payments.world.assertBalanced());

  /** A deposit started and its provider reference, with no result from the provider yet. */
  async function pendingDeposit(amount = '120') {
    const rider = await payments.stack.signUp('RIDER');
    const deposit = await payments.startDeposit(rider, amount);
    const { provider_reference: reference } = await payments.intentRow(deposit.id);
    return { rider, deposit, reference };
  }
  const succeeded = (reference: string, walletId: string, amountMinor = 12_000) => payments.event('payment_intent.succeeded', { reference, walletId, amountMinor });

  it('credits once however many times one event is delivered at once (50 concurrent deliveries)', async () => {
    const { rider, deposit, reference } = await pendingDeposit();
    const body = succeeded(reference, deposit.id);
    const answers = await Promise.all(Array.from({ length: 50 }, () => payments.deliver(body)));
    assert.ok(answers.every((answer) => answer.status === 200));
    assert.deepEqual(answers.map((answer) => answer.body.outcome).sort().filter((outcome, i, all) => all.indexOf(outcome) === i), ['APPLIED', 'DUPLICATE']);
    assert.equal(answers.filter((answer) => answer.body.outcome === 'APPLIED').length, 1);
    assert.equal((await payments.wallet(rider)).balance.amount, '120.00');
  });

  it('credits once when the same payment is reported again under another event id', async () => {
    const { rider, deposit, reference } = await pendingDeposit();
    assert.equal((await payments.deliver(succeeded(reference, deposit.id))).body.outcome, 'APPLIED');
    assert.equal((await payments.deliver(succeeded(reference, deposit.id))).body.outcome, 'ALREADY_APPLIED');
    assert.equal((await payments.wallet(rider)).balance.amount, '120.00');
  });

  it('refuses forged, stale, unsigned and malformed deliveries (400) and changes nothing', async () => {
    const { rider, deposit, reference } = await pendingDeposit();
    const body = succeeded(reference, deposit.id);
    const events = await payments.count('payment_provider_events');
    assert.equal((await payments.deliver(body, { secret: 'not-the-secret-at-all-0123456789abcdef' })).status, 400, 'forged');
    assert.equal((await payments.deliver(body, { signedAt: new Date(Date.now() - 6 * 60_000) })).status, 400, 'stale: signed 6 minutes ago');
    assert.equal((await payments.deliver(body, { signedAt: new Date(Date.now() + 6 * 60_000) })).status, 400, 'from the future');
    assert.equal((await payments.deliver(body, { signature: '' })).status, 400, 'unsigned');
    assert.equal((await payments.deliver(body, { signature: 't=abc,v1=zz' })).status, 400, 'a malformed signature');
    assert.equal((await payments.deliver('{"id": "evt_1", "type": ')).status, 400, 'signed but not JSON');
    assert.equal((await payments.deliver(JSON.stringify({ id: 'evt_2', type: 'payment_intent.succeeded' }))).status, 400, 'signed but not an event');
    const tampered = body.replace('"amount":12000', '"amount":99999');
    assert.equal((await payments.deliver(tampered, { signature: (await import('../../../platform/webhook-signature.ts')).signWebhook('x'.repeat(40), body) })).status, 400, 'a body changed after signing');
    assert.equal(await payments.count('payment_provider_events'), events, 'no refused delivery was recorded');
    assert.equal((await payments.wallet(rider)).balance.amount, '0.00');
  });

  it('records unknown and mismatched events without moving money', async () => {
    const { rider, deposit, reference } = await pendingDeposit();
    const unknown = await payments.deliver(payments.event('payment_intent.succeeded', { reference: 'pi_sandbox_nothing_of_ours', amountMinor: 12_000 }));
    assert.deepEqual([unknown.status, unknown.body.outcome], [200, 'UNKNOWN_OBJECT']);
    const wrongAmount = await payments.deliver(succeeded(reference, deposit.id, 1_200_000));
    assert.deepEqual([wrongAmount.status, wrongAmount.body.outcome], [200, 'MISMATCH']);
    const other = await payments.deliver(payments.event('charge.dispute.created', { reference, amountMinor: 12_000 }));
    assert.deepEqual([other.status, other.body.outcome], [200, 'IGNORED']);
    assert.equal((await payments.wallet(rider)).balance.amount, '0.00');
    assert.equal((await payments.intentRow(deposit.id)).status, 'PENDING');
  });

  it('ignores a late decline after the payment succeeded, and credits a success that follows a decline', async () => {
    const first = await pendingDeposit();
    await payments.deliver(succeeded(first.reference, first.deposit.id));
    const late = await payments.deliver(payments.event('payment_intent.payment_failed', { reference: first.reference, walletId: first.deposit.id, amountMinor: 12_000 }));
    assert.equal(late.body.outcome, 'ALREADY_APPLIED');
    assert.equal((await payments.wallet(first.rider)).balance.amount, '120.00');

    const second = await pendingDeposit();
    await payments.deliver(payments.event('payment_intent.payment_failed', { reference: second.reference, walletId: second.deposit.id, amountMinor: 12_000 }));
    assert.equal((await payments.intentRow(second.deposit.id)).status, 'FAILED');
    await payments.deliver(succeeded(second.reference, second.deposit.id));
    assert.equal((await payments.intentRow(second.deposit.id)).status, 'SUCCEEDED');
    assert.equal((await payments.wallet(second.rider)).balance.amount, '120.00');
  });

  it('is reachable on the wallet itself as well as through the router', async () => {
    const { rider, deposit, reference } = await pendingDeposit();
    const direct = await payments.deliver(succeeded(reference, deposit.id), { base: payments.stack.subgraph('wallet').url });
    assert.deepEqual([direct.status, direct.body.outcome], [200, 'APPLIED']);
    assert.equal((await payments.wallet(rider)).balance.amount, '120.00');
    const get = await fetch(new URL('/webhooks/payments', payments.stack.routerUrl));
    assert.equal(get.status, 405);
  });
});
