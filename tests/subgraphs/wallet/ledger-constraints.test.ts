import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Account } from '../../../subgraphs/wallet/ledger/index.ts';
import { LedgerWorld } from './ledger-fixture.ts';

const ACCOUNTS = '"wallet"."ledger_accounts"';
const TRANSFERS = '"wallet"."ledger_transfers"';

/**
 * What code must never do, done straight in SQL: the database itself refuses it. Each refusal is
 * recognised by the constraint's name or the trigger's message.
 */
describe('the ledger database refuses', () => {
  let world: LedgerWorld;
  let rider: Account;
  let driver: Account;
  let clearing: string;

  before(async () => {
    world = await LedgerWorld.create({ driverDebtLimitMinor: 5_000n });
    rider = await world.riderWallet(10_000n);
    driver = await world.driverWallet();
    clearing = await world.ledger.systemAccountId('TRIP_CLEARING');
  });
  after(() => world?.dispose());

  async function refuses(sql: string, params: unknown[], why: RegExp) {
    await assert.rejects(world.sql(sql, params), (error: Error & { constraint?: string }) => {
      assert.match(`${error.constraint ?? ''} ${error.message}`, why);
      return true;
    });
  }

  /** A transfer row as the ledger writes it, with `change` applied. */
  function insertTransfer(change: Record<string, unknown>) {
    const row: Record<string, unknown> = { id: randomUUID(), kind: 'SINGLE', debit_account_id: rider.id, credit_account_id: clearing, amount: '1', currency: 'EGP', code: 'TEST', pending_id: null, reversal_of: null, ...change };
    const columns = Object.keys(row);
    return [`insert into ${TRANSFERS} (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`, Object.values(row)] as const;
  }

  describe('changing the past', () => {
    it('an UPDATE of a transfer', async () => {
      const transfer = await world.deposit(rider.id, 1n);
      await refuses(`update ${TRANSFERS} set "amount" = 1000 where "id" = ?`, [transfer.id], /immutable/);
      assert.equal((await world.ledger.transferById(transfer.id)).amount, 1n);
    });

    it('a DELETE of a transfer', async () => {
      const transfer = await world.deposit(rider.id, 1n);
      await refuses(`delete from ${TRANSFERS} where "id" = ?`, [transfer.id], /immutable/);
    });

    it('a TRUNCATE of the transfers', async () => {
      await refuses(`truncate ${TRANSFERS} cascade`, [], /immutable/);
    });
  });

  describe('breaking a balance rule', () => {
    it("overdrawing a rider wallet by an UPDATE of its counters, posted or pending", async () => {
      await refuses(`update ${ACCOUNTS} set "debits_posted" = "credits_posted" + 1 where "id" = ?`, [rider.id], /ledger_accounts_debits_must_not_exceed_credits/);
      await refuses(`update ${ACCOUNTS} set "debits_pending" = "credits_posted" - "debits_posted" + 1 where "id" = ?`, [rider.id], /ledger_accounts_debits_must_not_exceed_credits/);
    });

    it("a driver wallet's debt past its limit (down to the limit is allowed)", async () => {
      await refuses(`update ${ACCOUNTS} set "debits_posted" = "credits_posted" + "debit_limit" + 1 where "id" = ?`, [driver.id], /ledger_accounts_debits_must_not_exceed_credits/);
    });

    it('a rider wallet given a debit limit or no rule', async () => {
      await refuses(`update ${ACCOUNTS} set "debit_limit" = 1 where "id" = ?`, [rider.id], /ledger_accounts_rider_wallet_never_negative/);
      await refuses(`update ${ACCOUNTS} set "balance_rule" = 'NONE' where "id" = ?`, [rider.id], /ledger_accounts_rider_wallet_never_negative/);
      await refuses(`update ${ACCOUNTS} set "balance_rule" = 'NONE' where "id" = ?`, [driver.id], /ledger_accounts_driver_wallet_limited/);
    });

    it('a negative counter', async () => {
      await refuses(`update ${ACCOUNTS} set "credits_pending" = -1 where "id" = ?`, [clearing], /ledger_accounts_credits_pending_not_negative/);
    });

    it('a second system account of a kind and currency, or a system account with an owner', async () => {
      await refuses(`insert into ${ACCOUNTS} ("id", "kind", "owner_id", "currency", "balance_rule") values (?, 'TRIP_CLEARING', null, 'EGP', 'NONE')`, [randomUUID()], /ledger_accounts_kind_owner_currency_unique/);
      await refuses(`insert into ${ACCOUNTS} ("id", "kind", "owner_id", "currency", "balance_rule") values (?, 'PAYOUTS', ?, 'EGP', 'NONE')`, [randomUUID(), randomUUID()], /ledger_accounts_owner_matches_kind/);
    });
  });

  describe('a malformed transfer', () => {
    it('a zero or negative amount', async () => {
      await refuses(...insertTransfer({ amount: '0' }), /ledger_transfers_amount_positive/);
      await refuses(...insertTransfer({ amount: '-5' }), /ledger_transfers_amount_positive/);
    });

    it('one account on both sides', async () => {
      await refuses(...insertTransfer({ credit_account_id: rider.id }), /ledger_transfers_debit_is_not_credit/);
    });

    it("a currency other than its accounts'", async () => {
      await refuses(...insertTransfer({ currency: 'USD' }), /ledger_transfers_debit_account_currency_foreign|ledger_transfers_credit_account_currency_foreign/);
    });

    it('an unknown kind, or a pending id on a transfer that resolves nothing', async () => {
      await refuses(...insertTransfer({ kind: 'GIFT' }), /ledger_transfers_kind_known/);
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 10n });
      await refuses(...insertTransfer({ pending_id: hold.id }), /ledger_transfers_pending_id_iff_post_or_void/);
      await world.ledger.void({ idempotencyKey: randomUUID(), pendingId: hold.id });
    });
  });

  describe('resolving a hold wrongly', () => {
    it('posting a pending transfer twice', async () => {
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await world.ledger.post({ idempotencyKey: randomUUID(), pendingId: hold.id });
      await refuses(...insertTransfer({ kind: 'POST_PENDING', pending_id: hold.id, amount: '100' }), /ledger_transfers_pending_resolved_once/);
      await refuses(...insertTransfer({ kind: 'VOID_PENDING', pending_id: hold.id, amount: '100' }), /ledger_transfers_pending_resolved_once/);
    });

    it("holding a trip's fare a second time, even once the first hold is voided", async () => {
      const tripId = randomUUID();
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n, code: 'TRIP_FARE', reference: tripId });
      await refuses(...insertTransfer({ kind: 'PENDING', code: 'TRIP_FARE', reference: tripId }), /ledger_transfers_one_fare_hold_per_trip/);
      await world.ledger.void({ idempotencyKey: randomUUID(), pendingId: hold.id });
      await refuses(...insertTransfer({ kind: 'PENDING', code: 'TRIP_FARE', reference: tripId }), /ledger_transfers_one_fare_hold_per_trip/);
      // Other holds about the trip (a withdrawal's code, say) are not fares.
      const other = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 1n, code: 'TEST', reference: tripId });
      await world.ledger.void({ idempotencyKey: randomUUID(), pendingId: other.id });
    });

    it('posting more than was held, or voiding another amount', async () => {
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await refuses(...insertTransfer({ kind: 'POST_PENDING', pending_id: hold.id, amount: '101' }), /posts 101 of a pending 100/);
      await refuses(...insertTransfer({ kind: 'VOID_PENDING', pending_id: hold.id, amount: '99' }), /voids 99 of a pending 100/);
      await world.ledger.void({ idempotencyKey: randomUUID(), pendingId: hold.id });
    });

    it('posting a transfer that is not pending, or a hold between other accounts', async () => {
      const single = await world.deposit(rider.id, 1n);
      await refuses(...insertTransfer({ kind: 'POST_PENDING', pending_id: single.id }), /not a pending transfer/);
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await refuses(...insertTransfer({ kind: 'POST_PENDING', pending_id: hold.id, credit_account_id: await world.ledger.systemAccountId('PLATFORM_REVENUE') }), /between other accounts/);
      await world.ledger.void({ idempotencyKey: randomUUID(), pendingId: hold.id });
    });
  });

  describe('reversing wrongly', () => {
    it('reversing more than the transfer moved, over several reversals', async () => {
      const fare = await world.ledger.transfer({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await world.ledger.reverse({ idempotencyKey: randomUUID(), transferId: fare.id, amount: 60n });
      await refuses(...insertTransfer({ debit_account_id: clearing, credit_account_id: rider.id, amount: '41', reversal_of: fare.id }), /reversals of .* exceed its amount 100/);
    });

    it('a reversal in the same direction as the original, or of a pending transfer', async () => {
      const fare = await world.ledger.transfer({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await refuses(...insertTransfer({ reversal_of: fare.id }), /does not send .* back/);
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: clearing, amount: 10n });
      await refuses(...insertTransfer({ debit_account_id: clearing, credit_account_id: rider.id, reversal_of: hold.id }), /not a posted transfer/);
      await world.ledger.void({ idempotencyKey: randomUUID(), pendingId: hold.id });
    });
  });

  it('and after all of it, the ledger is still balanced', async () => {
    await world.assertBalanced();
  });
});
