import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MAX_AMOUNT_MINOR, type Account } from '../../../subgraphs/wallet/ledger/index.ts';
import { LedgerWorld, rejectsWith } from './ledger-fixture.ts';

describe('the ledger', () => {
  let world: LedgerWorld;
  let clearing: string;
  let revenue: string;

  before(async () => {
    world = await LedgerWorld.create({ driverDebtLimitMinor: 5_000n });
    clearing = await world.ledger.systemAccountId('TRIP_CLEARING');
    revenue = await world.ledger.systemAccountId('PLATFORM_REVENUE');
  });
  after(() => world?.dispose());

  const ledger = () => world.ledger;
  const key = () => randomUUID();

  describe('accounts', () => {
    it("opens an owner's account once, however many times it is asked for at the same time", async () => {
      const ownerId = randomUUID();
      const opened = await Promise.all(Array.from({ length: 10 }, () => ledger().openAccount({ kind: 'RIDER_WALLET', ownerId })));
      assert.equal(new Set(opened.map((account) => account.id)).size, 1);
      assert.deepEqual(await ledger().findAccount('RIDER_WALLET', ownerId), opened[0]);
      const [{ count }] = await world.sql<{ count: string }>(`select count(*)::text as "count" from "wallet"."ledger_accounts" where "owner_id" = ?`, [ownerId]);
      assert.equal(count, '1');
    });

    it("remembers owners' account ids once read: asked again, it answers them without a statement, and leaves out owners without one", async () => {
      const [rider, other] = [await world.riderWallet(), await world.riderWallet()];
      const stranger = randomUUID();
      const owners = [rider, other].map((account) => ({ ownerId: account.ownerId!.toUpperCase(), currency: 'EGP' }));
      const asked = [...owners, { ownerId: stranger, currency: 'EGP' }, { ownerId: rider.ownerId!, currency: 'USD' }];
      world.statements.count = 0;
      const first = await ledger().accountIdsOfOwners('RIDER_WALLET', asked);
      assert.equal(world.statements.count, 1);
      assert.deepEqual(first, new Map([[`${rider.ownerId}:EGP`, rider.id], [`${other.ownerId}:EGP`, other.id]]));
      world.statements.count = 0;
      assert.deepEqual(await ledger().accountIdsOfOwners('RIDER_WALLET', owners), first);
      assert.equal(world.statements.count, 0, 'remembered');
      assert.deepEqual(await ledger().accountIdsOfOwners('DRIVER_WALLET', owners), new Map(), 'another kind is another account');
    });

    it('keeps one system account per kind and currency', async () => {
      const [a, b] = await Promise.all([ledger().systemAccount('PAYOUTS'), ledger().systemAccount('PAYOUTS')]);
      assert.equal(a.id, b.id);
      assert.equal(a.ownerId, null);
      assert.equal(a.balanceRule, 'NONE');
      const usd = await ledger().systemAccount('PAYOUTS', 'USD');
      assert.notEqual(usd.id, a.id);
      assert.equal(usd.currency, 'USD');
    });

    it("gives rider wallets the never-below-zero rule and driver wallets the configured debt limit", async () => {
      const rider = await world.riderWallet();
      const driver = await world.driverWallet();
      assert.deepEqual([rider.balanceRule, rider.debitLimit, rider.currency], ['DEBITS_MUST_NOT_EXCEED_CREDITS', 0n, 'EGP']);
      assert.deepEqual([driver.balanceRule, driver.debitLimit], ['DEBITS_MUST_NOT_EXCEED_CREDITS', 5_000n]);
    });

    it('answers NOT_FOUND for an unknown account and BAD_USER_INPUT for an id that is not one', async () => {
      await rejectsWith(ledger().account(randomUUID()), 'NOT_FOUND');
      await rejectsWith(ledger().balance('not-a-uuid'), 'BAD_USER_INPUT');
    });
  });

  describe('transfers', () => {
    it('moves an amount from one account to another and both balances show it', async () => {
      const rider = await world.riderWallet(10_000n);
      const transfer = await ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 2_550n, code: 'TRIP_FARE', reference: 'trip-1' });
      assert.deepEqual([transfer.kind, transfer.amount, transfer.currency, transfer.code, transfer.reference], ['SINGLE', 2_550n, 'EGP', 'TRIP_FARE', 'trip-1']);
      const balance = await ledger().balance(rider.id);
      assert.deepEqual([balance.posted, balance.pending, balance.available], [7_450n, 0n, 7_450n]);
      await world.assertBalanced();
    });

    it('refuses a debit the rider wallet cannot cover with INSUFFICIENT_FUNDS and writes nothing', async () => {
      const rider = await world.riderWallet(1_000n);
      const error = await rejectsWith(ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 1_001n, reference: 'too-much' }), 'INSUFFICIENT_FUNDS');
      assert.equal(error.extensions.accountId, rider.id);
      assert.equal((await ledger().balance(rider.id)).available, 1_000n);
      assert.deepEqual(await world.sql(`select 1 from "wallet"."ledger_transfers" where "reference" = 'too-much'`), []);
    });

    it("lets a driver wallet run a commission debt down to its limit, and no further", async () => {
      const driver = await world.driverWallet();
      await ledger().transfer({ idempotencyKey: key(), debitAccountId: driver.id, creditAccountId: revenue, amount: 4_000n, code: 'COMMISSION' });
      await rejectsWith(ledger().transfer({ idempotencyKey: key(), debitAccountId: driver.id, creditAccountId: revenue, amount: 1_001n, code: 'COMMISSION' }), 'INSUFFICIENT_FUNDS');
      await ledger().transfer({ idempotencyKey: key(), debitAccountId: driver.id, creditAccountId: revenue, amount: 1_000n, code: 'COMMISSION' });
      assert.equal((await ledger().balance(driver.id)).posted, -5_000n);
    });

    it('refuses accounts of another currency, and unknown accounts', async () => {
      const rider = await world.riderWallet(1_000n);
      const usdRevenue = await ledger().systemAccountId('PLATFORM_REVENUE', 'USD');
      await rejectsWith(ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: usdRevenue, amount: 100n }), 'BAD_USER_INPUT');
      await rejectsWith(ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: usdRevenue, amount: 100n, currency: 'USD' }), 'BAD_USER_INPUT');
      await rejectsWith(ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: randomUUID(), amount: 100n }), 'NOT_FOUND');
    });

    it('refuses zero, negative, fractional, unsafe and absurdly large amounts, unknown currencies and one account on both sides with BAD_USER_INPUT', async () => {
      const rider = await world.riderWallet(1_000n);
      const valid = { idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 100n };
      const bad: Array<[string, Record<string, unknown>]> = [
        ['amount', { amount: 0n }],
        ['amount', { amount: -5n }],
        ['amount', { amount: 12.5 }],
        ['amount', { amount: 2 ** 60 }],
        ['amount', { amount: '1.50' }],
        ['amount', { amount: MAX_AMOUNT_MINOR + 1n }],
        ['currency', { currency: 'XXX' }],
        ['currency', { currency: 'egp' }],
        ['creditAccountId', { creditAccountId: rider.id }],
        ['debitAccountId', { debitAccountId: 'nope' }],
        ['idempotencyKey', { idempotencyKey: '' }],
        ['idempotencyKey', { idempotencyKey: 'x'.repeat(201) }],
        ['code', { code: 'lower case' }],
      ];
      for (const [field, change] of bad) {
        const error = await rejectsWith(ledger().transfer({ ...valid, ...change } as never), 'BAD_USER_INPUT');
        assert.ok(field in (error.extensions.fields as object), `${JSON.stringify(change, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))} names ${field}: ${error.message}`);
      }
      assert.equal((await ledger().balance(rider.id)).available, 1_000n);
      // The largest amount is accepted.
      await ledger().transfer({ idempotencyKey: key(), debitAccountId: await ledger().systemAccountId('PROVIDER_CLEARING'), creditAccountId: rider.id, amount: MAX_AMOUNT_MINOR });
    });
  });

  describe('holds', () => {
    let rider: Account;
    before(async () => {
      rider = await world.riderWallet(10_000n);
    });

    it('counts a hold against the available balance until it is posted in full', async () => {
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 4_000n, code: 'TRIP_FARE', reference: 'trip-hold-1' });
      assert.equal(hold.kind, 'PENDING');
      let balance = await ledger().balance(rider.id);
      assert.deepEqual([balance.posted, balance.pending, balance.available, balance.debitsPending], [10_000n, -4_000n, 6_000n, 4_000n]);
      const posted = await ledger().post({ idempotencyKey: key(), pendingId: hold.id });
      assert.deepEqual([posted.kind, posted.amount, posted.pendingId, posted.code, posted.reference], ['POST_PENDING', 4_000n, hold.id, 'TRIP_FARE', 'trip-hold-1']);
      balance = await ledger().balance(rider.id);
      assert.deepEqual([balance.posted, balance.pending, balance.available], [6_000n, 0n, 6_000n]);
      const trip = await ledger().balance(clearing);
      assert.equal(trip.creditsPending, 0n);
      await world.assertBalanced();
    });

    it('posts part of a hold and releases the rest', async () => {
      const before = await ledger().balance(rider.id);
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 3_000n });
      const posted = await ledger().post({ idempotencyKey: key(), pendingId: hold.id, amount: 1_250n });
      assert.equal(posted.amount, 1_250n);
      const balance = await ledger().balance(rider.id);
      assert.deepEqual([balance.posted, balance.available, balance.debitsPending], [before.posted - 1_250n, before.available - 1_250n, 0n]);
      await world.assertBalanced();
    });

    it('voids a hold: the whole amount comes back to the available balance', async () => {
      const before = await ledger().balance(rider.id);
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 2_000n });
      assert.equal((await ledger().balance(rider.id)).available, before.available - 2_000n);
      const voided = await ledger().void({ idempotencyKey: key(), pendingId: hold.id });
      assert.deepEqual([voided.kind, voided.amount], ['VOID_PENDING', 2_000n]);
      assert.deepEqual(await ledger().balance(rider.id), before);
      await world.assertBalanced();
    });

    it('refuses a hold the available balance (posted minus held) cannot cover', async () => {
      const wallet = await world.riderWallet(5_000n);
      await ledger().hold({ idempotencyKey: key(), debitAccountId: wallet.id, creditAccountId: clearing, amount: 3_000n });
      await rejectsWith(ledger().hold({ idempotencyKey: key(), debitAccountId: wallet.id, creditAccountId: clearing, amount: 2_001n }), 'INSUFFICIENT_FUNDS');
      await rejectsWith(ledger().transfer({ idempotencyKey: key(), debitAccountId: wallet.id, creditAccountId: revenue, amount: 2_001n }), 'INSUFFICIENT_FUNDS');
      await ledger().transfer({ idempotencyKey: key(), debitAccountId: wallet.id, creditAccountId: revenue, amount: 2_000n });
    });

    it('posts or voids a hold once: a second post or void is a CONFLICT', async () => {
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await ledger().post({ idempotencyKey: key(), pendingId: hold.id });
      await rejectsWith(ledger().post({ idempotencyKey: key(), pendingId: hold.id }), 'CONFLICT', 'PENDING_ALREADY_POSTED');
      await rejectsWith(ledger().void({ idempotencyKey: key(), pendingId: hold.id }), 'CONFLICT', 'PENDING_ALREADY_POSTED');
      const voided = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await ledger().void({ idempotencyKey: key(), pendingId: voided.id });
      await rejectsWith(ledger().post({ idempotencyKey: key(), pendingId: voided.id }), 'CONFLICT', 'PENDING_ALREADY_VOIDED');
    });

    it('refuses to post more than was held, to post what is not a hold, and an unknown hold', async () => {
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n });
      await rejectsWith(ledger().post({ idempotencyKey: key(), pendingId: hold.id, amount: 101n }), 'BAD_USER_INPUT');
      const single = await ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 1n });
      await rejectsWith(ledger().post({ idempotencyKey: key(), pendingId: single.id }), 'CONFLICT', 'NOT_PENDING');
      await rejectsWith(ledger().void({ idempotencyKey: key(), pendingId: randomUUID() }), 'NOT_FOUND');
      await ledger().void({ idempotencyKey: key(), pendingId: hold.id });
    });

    it('refuses to post an expired hold, which can still be voided', async (t) => {
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 100n, timeoutMs: 60_000 });
      assert.ok(hold.expiresAt && hold.expiresAt.getTime() > Date.now());
      t.mock.timers.enable({ apis: ['Date'], now: hold.expiresAt.getTime() + 1 });
      try {
        await rejectsWith(ledger().post({ idempotencyKey: key(), pendingId: hold.id }), 'CONFLICT', 'PENDING_EXPIRED');
      } finally {
        t.mock.timers.reset();
      }
      await ledger().void({ idempotencyKey: key(), pendingId: hold.id });
    });

    it('decides a post and a void of one hold that arrive together in order: the post wins, the void is a CONFLICT', async () => {
      const wallet = await world.riderWallet(1_000n);
      const held = await ledger().hold({ idempotencyKey: key(), debitAccountId: wallet.id, creditAccountId: clearing, amount: 600n });
      const [posted, voided] = await Promise.allSettled([ledger().post({ idempotencyKey: key(), pendingId: held.id, amount: 500n }), ledger().void({ idempotencyKey: key(), pendingId: held.id })]);
      assert.equal(posted.status, 'fulfilled');
      await rejectsWith(voided.status === 'rejected' ? Promise.reject(voided.reason) : Promise.resolve(), 'CONFLICT', 'PENDING_ALREADY_POSTED');
      assert.equal((await ledger().balance(wallet.id)).available, 500n);
      await world.assertBalanced();
    });
  });

  describe('reversals', () => {
    it('sends a posted transfer back in parts, never more than it moved in total', async () => {
      const rider = await world.riderWallet(10_000n);
      const fare = await ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 3_000n, code: 'TRIP_FARE', reference: 'trip-r' });
      const partial = await ledger().reverse({ idempotencyKey: key(), transferId: fare.id, amount: 1_000n, code: 'REFUND' });
      assert.deepEqual([partial.kind, partial.debitAccountId, partial.creditAccountId, partial.amount, partial.reversalOf, partial.code, partial.reference], ['SINGLE', revenue, rider.id, 1_000n, fare.id, 'REFUND', 'trip-r']);
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: fare.id, amount: 3_001n }), 'BAD_USER_INPUT');
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: fare.id, amount: 2_001n }), 'CONFLICT', 'EXCEEDS_REVERSIBLE_AMOUNT');
      const rest = await ledger().reverse({ idempotencyKey: key(), transferId: fare.id });
      assert.equal(rest.amount, 2_000n);
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: fare.id, amount: 1n }), 'CONFLICT', 'EXCEEDS_REVERSIBLE_AMOUNT');
      assert.equal((await ledger().balance(rider.id)).posted, 10_000n);
      await world.assertBalanced();
    });

    it('reverses a posted hold, but not a pending one, a void or a reversal', async () => {
      const rider = await world.riderWallet(1_000n);
      const hold = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 500n });
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: hold.id }), 'CONFLICT', 'NOT_REVERSIBLE');
      const posted = await ledger().post({ idempotencyKey: key(), pendingId: hold.id });
      const reversal = await ledger().reverse({ idempotencyKey: key(), transferId: posted.id });
      assert.equal(reversal.amount, 500n);
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: reversal.id }), 'CONFLICT', 'NOT_REVERSIBLE');
      const other = await ledger().hold({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: clearing, amount: 10n });
      const voided = await ledger().void({ idempotencyKey: key(), pendingId: other.id });
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: voided.id }), 'CONFLICT', 'NOT_REVERSIBLE');
      assert.equal((await ledger().balance(rider.id)).available, 1_000n);
    });

    it("refuses a reversal that would overdraw the account it takes the money back from", async () => {
      const payer = await world.riderWallet(1_000n);
      const payee = await world.riderWallet();
      const sent = await ledger().transfer({ idempotencyKey: key(), debitAccountId: payer.id, creditAccountId: payee.id, amount: 800n });
      await ledger().transfer({ idempotencyKey: key(), debitAccountId: payee.id, creditAccountId: revenue, amount: 500n });
      await rejectsWith(ledger().reverse({ idempotencyKey: key(), transferId: sent.id }), 'INSUFFICIENT_FUNDS');
      await ledger().reverse({ idempotencyKey: key(), transferId: sent.id, amount: 300n });
    });
  });

  describe('idempotency', () => {
    it('answers the first transfer again for the same key and parameters', async () => {
      const rider = await world.riderWallet(1_000n);
      const input = { idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 100n, reference: 'once' };
      const first = await ledger().transfer(input);
      const again = await ledger().transfer({ ...input, amount: '100' });
      assert.deepEqual(again, first);
      assert.equal((await ledger().balance(rider.id)).available, 900n);
    });

    it('says when an outcome is a replay: the call again, or its twin in the same batch, did not make the transfer', async () => {
      const rider = await world.riderWallet(1_000n);
      const call = { op: 'transfer' as const, input: { idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 100n } };
      const [first, twin] = await Promise.all([ledger().apply(call), ledger().apply(call)]);
      assert.ok('transfer' in first! && 'transfer' in twin!);
      assert.deepEqual([first.replayed, twin.replayed], [undefined, true]);
      assert.deepEqual(twin.transfer, first.transfer);
      const again = await ledger().apply(call);
      assert.deepEqual(again, { transfer: first.transfer, replayed: true });
      const refused = await ledger().apply({ op: 'transfer', input: { ...call.input, idempotencyKey: key(), amount: 5_000n } });
      assert.equal('error' in refused && refused.error.code, 'INSUFFICIENT_FUNDS');
      assert.equal((await ledger().balance(rider.id)).available, 900n);
    });

    it('refuses a key reused with other parameters, or for another operation, with CONFLICT IDEMPOTENCY_KEY_REUSED', async () => {
      const rider = await world.riderWallet(1_000n);
      const input = { idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 100n };
      await ledger().transfer(input);
      await rejectsWith(ledger().transfer({ ...input, amount: 101n }), 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED');
      await rejectsWith(ledger().transfer({ ...input, reference: 'other' }), 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED');
      await rejectsWith(ledger().hold(input), 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED');
      assert.equal((await ledger().balance(rider.id)).available, 900n);
    });

    it('keeps no key for a refused call, so the same call succeeds once the balance covers it', async () => {
      const rider = await world.riderWallet(100n);
      const input = { idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 150n };
      await rejectsWith(ledger().transfer(input), 'INSUFFICIENT_FUNDS');
      await world.deposit(rider.id, 50n);
      const transfer = await ledger().transfer(input);
      assert.equal(transfer.amount, 150n);
      assert.deepEqual(await ledger().transfer(input), transfer);
    });

    it('lets a call with the same key but other parameters win the key when the first call was refused', async () => {
      const rider = await world.riderWallet(100n);
      const idempotencyKey = key();
      const [tooMuch, enough, twin] = await Promise.allSettled([
        ledger().transfer({ idempotencyKey, debitAccountId: rider.id, creditAccountId: revenue, amount: 500n }),
        ledger().transfer({ idempotencyKey, debitAccountId: rider.id, creditAccountId: revenue, amount: 60n }),
        ledger().transfer({ idempotencyKey, debitAccountId: rider.id, creditAccountId: revenue, amount: 60n }),
      ]);
      assert.equal(tooMuch.status === 'rejected' && tooMuch.reason.extensions.code, 'INSUFFICIENT_FUNDS');
      assert.equal(enough.status, 'fulfilled');
      assert.deepEqual(twin, enough);
      assert.equal((await ledger().balance(rider.id)).available, 40n);
    });

    it('purges keys past the retention of at least 24 hours, and only those', async () => {
      const rider = await world.riderWallet(1_000n);
      const old = key();
      await ledger().transfer({ idempotencyKey: old, debitAccountId: rider.id, creditAccountId: revenue, amount: 1n });
      await world.sql(`update "wallet"."ledger_idempotency_keys" set "created_at" = now() - interval '25 hours' where "key" = ?`, [old]);
      const recent = key();
      await ledger().transfer({ idempotencyKey: recent, debitAccountId: rider.id, creditAccountId: revenue, amount: 1n });
      assert.ok((await ledger().purgeIdempotencyKeys()) >= 1);
      const left = await world.sql<{ key: string }>(`select "key" from "wallet"."ledger_idempotency_keys" where "key" in (?, ?)`, [old, recent]);
      assert.deepEqual(left.map((row) => row.key), [recent]);
    });
  });

  describe('batching', () => {
    it('applies transfers that arrive together in one transaction of a handful of statements, each accepted or refused on its own', async () => {
      const wallets = await Promise.all(Array.from({ length: 50 }, () => world.riderWallet(1_000n)));
      world.statements.count = 0;
      const results = await Promise.allSettled(
        Array.from({ length: 400 }, (_, i) => ledger().transfer({ idempotencyKey: key(), debitAccountId: wallets[i % 50]!.id, creditAccountId: wallets[(i + 1) % 50]!.id, amount: i % 7 === 0 ? 5_000n : 10n })),
      );
      // One batch: claim keys, lock accounts, write; begin and commit are not statements of the ORM's count.
      assert.ok(world.statements.count <= 5, `${world.statements.count} statements for 400 transfers`);
      const refused = results.filter((result) => result.status === 'rejected');
      assert.equal(refused.length, Math.ceil(400 / 7));
      for (const result of refused) assert.equal((result.reason as { extensions: { code: string } }).extensions.code, 'INSUFFICIENT_FUNDS');
      await world.assertBalanced();
    });
  });

  describe("an account's transfers", () => {
    it('pages newest first with opaque cursors, without duplicates or gaps', async () => {
      const rider = await world.riderWallet();
      const made: string[] = [];
      for (let i = 0; i < 7; i++) made.push((await world.deposit(rider.id, BigInt(100 + i))).id);
      // Some arrive together (one batch): still one order.
      const together = await Promise.all(Array.from({ length: 5 }, () => ledger().transfer({ idempotencyKey: key(), debitAccountId: rider.id, creditAccountId: revenue, amount: 1n })));
      made.push(...together.sort((a, b) => (a.seq < b.seq ? -1 : 1)).map((transfer) => transfer.id));
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const page = await ledger().transfers(rider.id, { first: 5, after });
        seen.push(...page.edges.map((edge) => edge.node.id));
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
        pages += 1;
      } while (after);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...made].reverse());
      const last = await ledger().transfers(rider.id, { first: 5 });
      assert.match(last.edges[0]!.cursor, /^[A-Za-z0-9_-]+$/);
    });

    it('refuses a forged cursor and a page size out of range with BAD_USER_INPUT', async () => {
      const rider = await world.riderWallet();
      await rejectsWith(ledger().transfers(rider.id, { after: 'bm9wZQ' }), 'BAD_USER_INPUT');
      await rejectsWith(ledger().transfers(rider.id, { after: Buffer.from('2026-01-01T00:00:00.000Z|x1').toString('base64url') }), 'BAD_USER_INPUT');
      await rejectsWith(ledger().transfers(rider.id, { first: 101 }), 'BAD_USER_INPUT');
    });
  });

  describe('the balance check', () => {
    it('reports a counter changed behind the ledger, naming the account and both values', async () => {
      const rider = await world.riderWallet(1_000n);
      await world.assertBalanced();
      await world.sql(`update "wallet"."ledger_accounts" set "credits_posted" = "credits_posted" + 1 where "id" = ?`, [rider.id]);
      try {
        const check = await ledger().checkBalanced();
        assert.equal(check.balanced, false);
        assert.deepEqual(
          check.discrepancies.map((d) => ({ ...d })),
          [
            { kind: 'TOTALS', side: 'posted', debits: check.totals.debitsPosted, credits: check.totals.creditsPosted },
            { kind: 'ACCOUNT_COUNTER', accountId: rider.id, counter: 'creditsPosted', stored: 1_001n, fromTransfers: 1_000n },
          ],
        );
        assert.equal(check.totals.creditsPosted - check.totals.debitsPosted, 1n);
      } finally {
        await world.sql(`update "wallet"."ledger_accounts" set "credits_posted" = "credits_posted" - 1 where "id" = ?`, [rider.id]);
      }
      await world.assertBalanced();
    });

    it('reports an idempotency key whose transfer does not exist', async () => {
      const orphan = { key: `orphan:${randomUUID()}`, transferId: randomUUID() };
      await world.sql(`insert into "wallet"."ledger_idempotency_keys" ("key", "request_hash", "transfer_id") values (?, ?, ?)`, [orphan.key, 'f'.repeat(64), orphan.transferId]);
      try {
        const check = await ledger().checkBalanced();
        assert.deepEqual(check.discrepancies, [{ kind: 'KEY_WITHOUT_TRANSFER', ...orphan }]);
      } finally {
        await world.sql(`delete from "wallet"."ledger_idempotency_keys" where "key" = ?`, [orphan.key]);
      }
    });
  });
});
