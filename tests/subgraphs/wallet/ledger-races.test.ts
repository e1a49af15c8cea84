import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Ledger, Transfer } from '../../../subgraphs/wallet/ledger/index.ts';
import { LedgerWorld, ON_POSTGRES, rejectsWith } from './ledger-fixture.ts';

/**
 * Races between two wallet processes ("replicas": on Postgres each has its own connection pool, so
 * their transactions really overlap; on PGlite they share its one connection). Small batches with
 * several in flight make many transactions contend for the same rows.
 */
describe('the ledger under concurrent calls', () => {
  let world: LedgerWorld;
  let replicas: [Ledger, Ledger];
  let revenue: string;

  before(async () => {
    if (!ON_POSTGRES) console.log('# on PGlite the two replicas share one connection: their transactions take turns');
    const tuning = { maxBatchSize: 20, maxBatchesInFlight: 4 };
    world = await LedgerWorld.create(tuning);
    replicas = [world.ledger, await world.replica(tuning)];
    revenue = await world.ledger.systemAccountId('PLATFORM_REVENUE');
  });
  after(() => world?.dispose());

  it('applies 1,000 concurrent debits of one wallet so that it never goes negative: every accepted one exactly once, every refused one INSUFFICIENT_FUNDS and absent', async () => {
    const funded = 50_000n;
    const wallet = await world.riderWallet(funded);
    const amountOf = (i: number) => BigInt(20 + ((i * 37) % 131)); // 20..150, about 85 on average: roughly 600 fit
    const results = await Promise.allSettled(
      Array.from({ length: 1_000 }, (_, i) => replicas[i % 2]!.transfer({ idempotencyKey: `debit:${wallet.id}:${i}`, debitAccountId: wallet.id, creditAccountId: revenue, amount: amountOf(i), code: 'TRIP_FARE', reference: `debit-${i}` })),
    );

    const accepted = new Map<number, Transfer>();
    const refused: number[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') accepted.set(i, result.value);
      else {
        assert.equal(result.reason.extensions?.code, 'INSUFFICIENT_FUNDS', `debit ${i}: ${result.reason}`);
        refused.push(i);
      }
    });
    assert.ok(accepted.size > 400 && refused.length > 0, `${accepted.size} accepted, ${refused.length} refused`);

    // Each accepted debit is one row (its id, its amount), each refused one left no row.
    const rows = await world.sql<{ id: string; reference: string; amount: string }>(`select "id", "reference", "amount"::text from "wallet"."ledger_transfers" where "debit_account_id" = ?`, [wallet.id]);
    assert.equal(rows.length, accepted.size);
    const byReference = new Map(rows.map((row) => [row.reference, row]));
    for (const [i, transfer] of accepted) assert.deepEqual(byReference.get(`debit-${i}`), { id: transfer.id, reference: `debit-${i}`, amount: String(amountOf(i)) });
    for (const i of refused) assert.equal(byReference.has(`debit-${i}`), false);

    const spent = [...accepted.keys()].reduce((sum, i) => sum + amountOf(i), 0n);
    const balance = await world.ledger.balance(wallet.id);
    assert.equal(balance.available, funded - spent);
    assert.ok(balance.available >= 0n);
    // The balance only fell, so every refusal was right: what is left covers none of the refused amounts.
    const smallestRefused = refused.map(amountOf).reduce((a, b) => (a < b ? a : b));
    assert.ok(balance.available < smallestRefused, `${balance.available} left, yet ${smallestRefused} was refused`);

    // Replayed in the order they were applied, the wallet never went below zero.
    let running = 0n;
    let page = await world.ledger.transfers(wallet.id, { first: 100 });
    const applied: Transfer[] = [];
    for (;;) {
      applied.push(...page.edges.map((edge) => edge.node));
      if (!page.pageInfo.hasNextPage) break;
      page = await world.ledger.transfers(wallet.id, { first: 100, after: page.pageInfo.endCursor });
    }
    for (const transfer of applied.reverse()) {
      running += transfer.creditAccountId === wallet.id ? transfer.amount : -transfer.amount;
      assert.ok(running >= 0n, `negative after transfer ${transfer.seq}`);
    }
    await world.assertBalanced();
  });

  it('makes one transfer for one idempotency key sent by 50 concurrent callers, and answers all of them with it', async () => {
    const wallet = await world.riderWallet(10_000n);
    const input = { idempotencyKey: `pay:${randomUUID()}`, debitAccountId: wallet.id, creditAccountId: revenue, amount: 1_234n, reference: `one-of-50:${wallet.id}` };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => replicas[i % 2]!.transfer(input)));
    assert.equal(new Set(results.map((transfer) => transfer.id)).size, 1);
    for (const result of results) assert.deepEqual(result, results[0]);
    const rows = await world.sql(`select 1 from "wallet"."ledger_transfers" where "reference" = ?`, [input.reference]);
    assert.equal(rows.length, 1);
    assert.equal((await world.ledger.balance(wallet.id)).available, 10_000n - 1_234n);
    await rejectsWith(replicas[1].transfer({ ...input, amount: 1_235n }), 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED');
  });

  it('lets only one set of parameters win a key that concurrent callers send with different ones; the others get IDEMPOTENCY_KEY_REUSED', async () => {
    const wallet = await world.riderWallet(10_000n);
    const idempotencyKey = `pay:${randomUUID()}`;
    const amountOf = (i: number) => BigInt(100 + (i % 3));
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => replicas[i % 2]!.transfer({ idempotencyKey, debitAccountId: wallet.id, creditAccountId: revenue, amount: amountOf(i) })));
    const made = new Set(results.flatMap((result) => (result.status === 'fulfilled' ? [result.value.id] : [])));
    assert.equal(made.size, 1);
    const winner = results.find((result) => result.status === 'fulfilled')!.value;
    results.forEach((result, i) => {
      if (amountOf(i) === winner.amount) assert.deepEqual(result, { status: 'fulfilled', value: winner });
      else assert.equal(result.status === 'rejected' && result.reason.extensions.reason, 'IDEMPOTENCY_KEY_REUSED');
    });
    assert.equal((await world.ledger.balance(wallet.id)).available, 10_000n - winner.amount);
  });

  it('resolves a hold once when replicas post and void it at the same time', async () => {
    const wallet = await world.riderWallet(1_000n);
    const clearing = await world.ledger.systemAccountId('TRIP_CLEARING');
    for (let round = 0; round < 10; round++) {
      const hold = await world.ledger.hold({ idempotencyKey: randomUUID(), debitAccountId: wallet.id, creditAccountId: clearing, amount: 10n });
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => (i % 3 === 0 ? replicas[i % 2]!.void({ idempotencyKey: randomUUID(), pendingId: hold.id }) : replicas[i % 2]!.post({ idempotencyKey: randomUUID(), pendingId: hold.id, amount: 5n }))),
      );
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      for (const result of results) if (result.status === 'rejected') assert.match(result.reason.extensions.reason, /^PENDING_ALREADY_(POSTED|VOIDED)$/);
    }
    assert.equal((await world.ledger.balance(wallet.id)).debitsPending, 0n);
    await world.assertBalanced();
  });

  it('opens one account when replicas open it at the same time', async () => {
    const ownerId = randomUUID();
    const opened = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.openAccount({ kind: 'DRIVER_WALLET', ownerId })));
    assert.equal(new Set(opened.map((account) => account.id)).size, 1);
  });
});
