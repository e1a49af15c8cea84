import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { EntityManager } from '../../../platform/db.ts';
import { balanceOf, type LedgerTransaction } from '../../../subgraphs/wallet/ledger/index.ts';
import { LedgerWorld, rejectsWith } from './ledger-fixture.ts';

/** What the wallet's settlement and reads need of the ledger beyond single calls. */
describe('the ledger in a transaction of its caller', () => {
  let world: LedgerWorld;
  let provider: string;
  let revenue: string;

  before(async () => {
    world = await LedgerWorld.create({ driverDebtLimitMinor: 1_000n });
    provider = await world.ledger.systemAccountId('PROVIDER_CLEARING');
    revenue = await world.ledger.systemAccountId('PLATFORM_REVENUE');
  });
  after(() => world?.dispose());

  const inTransaction = <T>(work: (tx: LedgerTransaction, em: EntityManager) => Promise<T>) => world.db.fork().transactional((em) => work(world.ledger.within(em), em));
  const deposit = (accountId: string, amount: bigint, extra: Record<string, unknown> = {}) => ({ op: 'transfer' as const, input: { idempotencyKey: randomUUID(), debitAccountId: provider, creditAccountId: accountId, amount, code: 'DEPOSIT', ...extra } });

  it("commits the transfers with the caller's own work, and rolls them back with it", async () => {
    const kept = await world.riderWallet();
    const lost = await world.riderWallet();
    await inTransaction((tx) => tx.apply([deposit(kept.id, 500n)]));
    await assert.rejects(
      inTransaction(async (tx) => {
        const [outcome] = await tx.apply([deposit(lost.id, 700n)]);
        assert.ok('transfer' in outcome!);
        throw new Error('the caller failed after the transfer');
      }),
      /the caller failed/,
    );
    assert.equal((await world.ledger.balance(kept.id)).posted, 500n);
    assert.equal((await world.ledger.balance(lost.id)).posted, 0n);
    await world.assertBalanced();
  });

  it('decides calls given together in order, each accepted or refused on its own', async () => {
    const rider = await world.riderWallet();
    const outcomes = await inTransaction((tx) =>
      tx.apply([
        deposit(rider.id, 300n),
        { op: 'transfer', input: { idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: revenue, amount: 200n } },
        { op: 'transfer', input: { idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: revenue, amount: 200n } },
      ]),
    );
    assert.deepEqual(outcomes.map((outcome) => ('transfer' in outcome ? 'accepted' : outcome.error.extensions.code)), ['accepted', 'accepted', 'INSUFFICIENT_FUNDS']);
    assert.equal((await world.ledger.balance(rider.id)).posted, 100n);
  });

  it('refuses an EntityManager outside a transaction', () => {
    assert.throws(() => world.ledger.within(world.db.fork()), /inside a transaction/);
  });

  it('opens the accounts of many owners in two statements, and finds those already open', async () => {
    const existing = await world.riderWallet();
    const owners = Array.from({ length: 30 }, () => randomUUID());
    const [opened, statements] = await inTransaction(async (tx) => {
      world.statements.count = 0;
      const accounts = await tx.openAccounts([{ kind: 'RIDER_WALLET', ownerId: existing.ownerId! }, ...owners.map((ownerId) => ({ kind: 'DRIVER_WALLET' as const, ownerId }))]);
      return [accounts, world.statements.count] as const;
    });
    assert.equal(statements, 2);
    assert.equal(opened[0]!.id, existing.id);
    assert.deepEqual(opened.slice(1).map((account) => [account.kind, account.ownerId, account.debitLimit]), owners.map((ownerId) => ['DRIVER_WALLET', ownerId, 1_000n]));
    const again = await world.ledger.accountsOfOwners(owners, ['DRIVER_WALLET']);
    assert.deepEqual(new Set(again.map((account) => account.id)), new Set(opened.slice(1).map((account) => account.id)));
  });

  it("keeps a transfer's userData and, for imported history, the time it happened", async () => {
    const rider = await world.riderWallet();
    const happened = new Date('2026-10-01T08:30:00.000Z');
    const [outcome] = await inTransaction((tx) => tx.apply([deposit(rider.id, 900n, { userData: 12_345n, importedAt: happened })]));
    assert.ok('transfer' in outcome!);
    assert.equal(outcome.transfer.userData, 12_345n);
    assert.equal(outcome.transfer.createdAt.toISOString(), happened.toISOString());
    const stored = await world.ledger.transferById(outcome.transfer.id);
    assert.deepEqual([stored.userData, stored.createdAt.toISOString()], [12_345n, happened.toISOString()]);
    await rejectsWith(world.ledger.transfer({ idempotencyKey: randomUUID(), debitAccountId: provider, creditAccountId: rider.id, amount: 1n, importedAt: new Date(Date.now() + 60_000) }), 'BAD_USER_INPUT');
  });

  it('counts userData in the idempotency digest: the same key with another userData is refused', async () => {
    const rider = await world.riderWallet();
    const input = { idempotencyKey: randomUUID(), debitAccountId: provider, creditAccountId: rider.id, amount: 10n, userData: 1n };
    const first = await world.ledger.transfer(input);
    assert.deepEqual(await world.ledger.transfer(input), first);
    await rejectsWith(world.ledger.transfer({ ...input, userData: 2n }), 'CONFLICT', 'IDEMPOTENCY_KEY_REUSED');
  });

  it("finds every transfer about some references in one statement, with their accounts' kinds and owners", async () => {
    const rider = await world.riderWallet(1_000n);
    const [trip, other] = [randomUUID(), randomUUID()];
    const pay = (reference: string, amount: bigint) => world.ledger.transfer({ idempotencyKey: randomUUID(), debitAccountId: rider.id, creditAccountId: revenue, amount, reference });
    const made = [await pay(trip, 10n), await pay(other, 20n), await pay(trip, 30n)];
    world.statements.count = 0;
    const found = await world.ledger.transfersByReferences([trip, other, randomUUID()]);
    assert.equal(world.statements.count, 1);
    assert.deepEqual(found.map((transfer) => transfer.id), made.map((transfer) => transfer.id));
    assert.deepEqual(found[0]!.debitAccount, { kind: 'RIDER_WALLET', ownerId: rider.ownerId });
    assert.deepEqual(found[0]!.creditAccount, { kind: 'PLATFORM_REVENUE', ownerId: null });
  });

  it('sums the transfers of some codes on some accounts over a period, per code and side', async () => {
    const driver = await world.driverWallet();
    const at = (iso: string) => new Date(iso);
    await inTransaction((tx) =>
      tx.apply([
        deposit(driver.id, 100n, { code: 'EARNED', userData: 120n, importedAt: at('2026-09-01T10:00:00Z') }),
        deposit(driver.id, 200n, { code: 'EARNED', userData: 250n, importedAt: at('2026-09-02T10:00:00Z') }),
        deposit(driver.id, 400n, { code: 'EARNED', importedAt: at('2026-09-05T00:00:00Z') }),
        { op: 'transfer', input: { idempotencyKey: randomUUID(), debitAccountId: driver.id, creditAccountId: revenue, amount: 15n, code: 'CHARGED', userData: 100n, importedAt: at('2026-09-03T10:00:00Z') } },
        deposit(driver.id, 800n, { code: 'OTHER', importedAt: at('2026-09-03T10:00:00Z') }),
      ]),
    );
    const totals = await world.ledger.codeTotals([driver.id], ['EARNED', 'CHARGED'], at('2026-09-01T10:00:00Z'), at('2026-09-05T00:00:00Z'));
    const sorted = totals.map((t) => [t.code, t.side, t.count, t.amount, t.userData]).sort();
    assert.deepEqual(sorted, [['CHARGED', 'DEBIT', 1, 15n, 100n], ['EARNED', 'CREDIT', 2, 300n, 370n]].sort());
  });

  it("lets a driver's receivable carry any debt: no balance rule, read from its debit side", async () => {
    const ownerId = randomUUID();
    const receivable = await world.ledger.openAccount({ kind: 'DRIVER_RECEIVABLE', ownerId });
    assert.deepEqual([receivable.balanceRule, receivable.debitLimit], ['NONE', 0n]);
    await world.ledger.transfer({ idempotencyKey: randomUUID(), debitAccountId: receivable.id, creditAccountId: revenue, amount: 5_000_000n, code: 'CASH_COMMISSION' });
    const balance = balanceOf(await world.ledger.account(receivable.id));
    assert.deepEqual([balance.normal, balance.posted], ['DEBIT', 5_000_000n]);
    await world.assertBalanced();
  });
});
