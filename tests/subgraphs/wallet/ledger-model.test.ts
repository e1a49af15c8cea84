import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { describeCheck, Ledger, type Counters, type LedgerCheck, type Transfer } from '../../../subgraphs/wallet/ledger/index.ts';
import { LedgerWorld } from './ledger-fixture.ts';

/**
 * A randomized model-based test: random sequences of deposits, transfers, fare holds, withdrawals (holds
 * on a driver wallet), posts (whole or part), voids, trip settlements, cash commissions, refunds
 * (reversals) and retries with the same idempotency key run against the ledger and against a plain
 * in-memory model of it. Calls are sent in groups of up to five at once, so they share batches (in
 * batches of 1 to 4); a batch decides its calls in the order they arrived, so the model applies them in
 * that order. After every group each account's four counters equal the model's; after every run the
 * ledger is balanced. Seeded: LEDGER_MODEL_SEED=<n> reproduces a run, LEDGER_MODEL_RUNS=<n> runs more.
 * Runs share one database (a fresh one per run would cost a second each on PGlite); each run opens its own
 * wallets and reads the shared system accounts' counters when it starts.
 */
const SEED = Number(process.env.LEDGER_MODEL_SEED ?? 20_261_204);
const RUNS = Number(process.env.LEDGER_MODEL_RUNS ?? 50);
const DRIVER_DEBT_LIMIT = 3_000n;
const RIDERS = 3;
const DRIVERS = 2;

// ── the model ───────────────────────────────────────────────────────────────────────────────────

interface ModelAccount extends Counters {
  /** How far below zero its debits may go; null: no rule (system accounts). */
  limit: bigint | null;
}

interface ModelTransfer {
  id: string;
  kind: Transfer['kind'];
  debit: string;
  credit: string;
  amount: bigint;
  reversalOf: string | null;
  /** PENDING: resolved by a post or void. */
  resolved: 'POST_PENDING' | 'VOID_PENDING' | null;
  /** SINGLE / POST_PENDING: sum of reversals so far. */
  reversed: bigint;
}

type Call =
  | { method: 'transfer' | 'hold'; key: string; debit: string; credit: string; amount: bigint; code: string }
  | { method: 'post'; key: string; pending: ModelTransfer; amount: bigint | null }
  | { method: 'void'; key: string; pending: ModelTransfer }
  | { method: 'reverse'; key: string; original: ModelTransfer; amount: bigint | null };

type Movement = Omit<ModelTransfer, 'id' | 'resolved' | 'reversed'>;
type Refusal = { code: string; reason?: string };
/** Accepted (a replay answers the transfer its key made) or refused. */
type Expected = { accepted: Movement; replayOf: ModelTransfer | null } | Refusal;

class Model {
  readonly accounts = new Map<string, ModelAccount>();
  /** Transfers the ledger accepted, in order (ids filled in once the ledger answered). */
  readonly transfers: ModelTransfer[] = [];
  /** Idempotency keys stored: the transfer each made. */
  readonly keys = new Map<string, ModelTransfer>();

  /** What the ledger must answer to `call`, applied to the model if accepted. */
  apply(call: Call): { expected: Expected; made: ModelTransfer | null } {
    const stored = this.keys.get(call.key);
    if (stored) return { expected: { accepted: stored, replayOf: stored }, made: null };
    const outcome = this.#decide(call);
    if ('code' in outcome) return { expected: outcome, made: null };
    const made: ModelTransfer = { id: '', ...outcome, resolved: null, reversed: 0n };
    this.#book(made, call);
    this.transfers.push(made);
    this.keys.set(call.key, made);
    return { expected: { accepted: outcome, replayOf: null }, made };
  }

  #decide(call: Call): Movement | Refusal {
    switch (call.method) {
      case 'transfer':
      case 'hold': {
        if (call.debit === call.credit) return { code: 'BAD_USER_INPUT' };
        if (!this.#covers(call.debit, call.amount)) return { code: 'INSUFFICIENT_FUNDS' };
        return { kind: call.method === 'hold' ? 'PENDING' : 'SINGLE', debit: call.debit, credit: call.credit, amount: call.amount, reversalOf: null };
      }
      case 'post':
      case 'void': {
        const { pending } = call;
        if (pending.resolved) return { code: 'CONFLICT', reason: pending.resolved === 'POST_PENDING' ? 'PENDING_ALREADY_POSTED' : 'PENDING_ALREADY_VOIDED' };
        const amount = call.method === 'void' ? pending.amount : (call.amount ?? pending.amount);
        if (amount > pending.amount) return { code: 'BAD_USER_INPUT' };
        return { kind: call.method === 'void' ? 'VOID_PENDING' : 'POST_PENDING', debit: pending.debit, credit: pending.credit, amount, reversalOf: null };
      }
      case 'reverse': {
        const { original } = call;
        if ((original.kind !== 'SINGLE' && original.kind !== 'POST_PENDING') || original.reversalOf) return { code: 'CONFLICT', reason: 'NOT_REVERSIBLE' };
        const remaining = original.amount - original.reversed;
        const amount = call.amount ?? remaining;
        if (amount > original.amount) return { code: 'BAD_USER_INPUT' };
        if (amount > remaining || remaining === 0n) return { code: 'CONFLICT', reason: 'EXCEEDS_REVERSIBLE_AMOUNT' };
        if (!this.#covers(original.credit, amount)) return { code: 'INSUFFICIENT_FUNDS' };
        return { kind: 'SINGLE', debit: original.credit, credit: original.debit, amount, reversalOf: original.id };
      }
    }
  }

  #covers(accountId: string, amount: bigint): boolean {
    const account = this.accounts.get(accountId)!;
    return account.limit === null || account.debitsPending + account.debitsPosted + amount <= account.creditsPosted + account.limit;
  }

  #book(transfer: ModelTransfer, call: Call) {
    const debit = this.accounts.get(transfer.debit)!;
    const credit = this.accounts.get(transfer.credit)!;
    if (transfer.kind === 'SINGLE') {
      debit.debitsPosted += transfer.amount;
      credit.creditsPosted += transfer.amount;
      if (call.method === 'reverse') call.original.reversed += transfer.amount;
    } else if (transfer.kind === 'PENDING') {
      debit.debitsPending += transfer.amount;
      credit.creditsPending += transfer.amount;
    } else if (call.method === 'post' || call.method === 'void') {
      const posted = transfer.kind === 'POST_PENDING' ? transfer.amount : 0n;
      debit.debitsPending -= call.pending.amount;
      credit.creditsPending -= call.pending.amount;
      debit.debitsPosted += posted;
      credit.creditsPosted += posted;
      call.pending.resolved = transfer.kind;
    }
  }
}

// ── the random programs ─────────────────────────────────────────────────────────────────────────

const amount = fc.bigInt({ min: 1n, max: 4_000n });
const maybeAmount = fc.option(amount, { nil: null });
const step = fc.oneof(
  fc.record({ op: fc.constant('deposit' as const), to: fc.nat(RIDERS + DRIVERS - 1), amount }),
  fc.record({ op: fc.constant('transfer' as const), from: fc.nat(RIDERS - 1), to: fc.nat(RIDERS - 1), amount }),
  fc.record({ op: fc.constant('fareHold' as const), rider: fc.nat(RIDERS - 1), amount }),
  fc.record({ op: fc.constant('withdrawal' as const), driver: fc.nat(DRIVERS - 1), amount }),
  fc.record({ op: fc.constant('post' as const), pending: fc.nat(), amount: maybeAmount }),
  fc.record({ op: fc.constant('void' as const), pending: fc.nat() }),
  fc.record({ op: fc.constant('settle' as const), driver: fc.nat(DRIVERS - 1), fare: amount, commissionPercent: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ op: fc.constant('cashCommission' as const), driver: fc.nat(DRIVERS - 1), amount: fc.bigInt({ min: 1n, max: 2_000n }) }),
  fc.record({ op: fc.constant('refund' as const), transfer: fc.nat(), amount: maybeAmount }),
  fc.record({ op: fc.constant('retry' as const), call: fc.nat() }),
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;
const program = fc.record({ groups: fc.array(fc.array(step, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 30, size: 'medium' }), maxBatchSize: fc.integer({ min: 1, max: 4 }) });

interface Accounts {
  riders: string[];
  drivers: string[];
  provider: string;
  clearing: string;
  revenue: string;
  payouts: string;
}

/** The ledger calls a step makes, given what existed when its group started. */
function callsOf(step: Step, accounts: Accounts, model: Model, holds: readonly ModelTransfer[], done: readonly Call[]): Call[] {
  const key = () => randomUUID();
  const pick = <T>(list: readonly T[], n: number) => (list.length === 0 ? undefined : list[n % list.length]);
  switch (step.op) {
    case 'deposit':
      return [{ method: 'transfer', key: key(), debit: accounts.provider, credit: [...accounts.riders, ...accounts.drivers][step.to]!, amount: step.amount, code: 'DEPOSIT' }];
    case 'transfer':
      return [{ method: 'transfer', key: key(), debit: accounts.riders[step.from]!, credit: accounts.riders[step.to]!, amount: step.amount, code: 'P2P' }];
    case 'fareHold':
      return [{ method: 'hold', key: key(), debit: accounts.riders[step.rider]!, credit: accounts.clearing, amount: step.amount, code: 'TRIP_FARE' }];
    case 'withdrawal':
      return [{ method: 'hold', key: key(), debit: accounts.drivers[step.driver]!, credit: accounts.payouts, amount: step.amount, code: 'WITHDRAWAL' }];
    case 'post': {
      const pending = pick(holds, step.pending);
      return pending ? [{ method: 'post', key: key(), pending, amount: step.amount }] : [];
    }
    case 'void': {
      const pending = pick(holds, step.pending);
      return pending ? [{ method: 'void', key: key(), pending }] : [];
    }
    case 'settle': {
      const commission = (step.fare * BigInt(step.commissionPercent)) / 100n;
      const driver = accounts.drivers[step.driver]!;
      const calls: Call[] = [];
      if (step.fare - commission > 0n) calls.push({ method: 'transfer', key: key(), debit: accounts.clearing, credit: driver, amount: step.fare - commission, code: 'DRIVER_EARNINGS' });
      if (commission > 0n) calls.push({ method: 'transfer', key: key(), debit: accounts.clearing, credit: accounts.revenue, amount: commission, code: 'COMMISSION' });
      return calls;
    }
    case 'cashCommission':
      return [{ method: 'transfer', key: key(), debit: accounts.drivers[step.driver]!, credit: accounts.revenue, amount: step.amount, code: 'COMMISSION' }];
    case 'refund': {
      const original = pick(model.transfers.filter((transfer) => transfer.id !== ''), step.transfer);
      return original ? [{ method: 'reverse', key: key(), original, amount: step.amount }] : [];
    }
    case 'retry': {
      const earlier = pick(done, step.call);
      return earlier ? [earlier] : [];
    }
  }
}

function send(ledger: Ledger, call: Call): Promise<Transfer> {
  switch (call.method) {
    case 'transfer':
    case 'hold':
      return ledger[call.method]({ idempotencyKey: call.key, debitAccountId: call.debit, creditAccountId: call.credit, amount: call.amount, code: call.code });
    case 'post':
      return ledger.post({ idempotencyKey: call.key, pendingId: call.pending.id, amount: call.amount });
    case 'void':
      return ledger.void({ idempotencyKey: call.key, pendingId: call.pending.id });
    case 'reverse':
      return ledger.reverse({ idempotencyKey: call.key, transferId: call.original.id, amount: call.amount });
  }
}

/** Each discrepancy of a check as "stored minus what the transfers add up to" (or debits minus credits). */
function skewOf(check: LedgerCheck): Record<string, bigint> {
  return Object.fromEntries(
    check.discrepancies.map((d) => (d.kind === 'TOTALS' ? [`totals ${d.side}`, d.debits - d.credits] : d.kind === 'ACCOUNT_COUNTER' ? [`${d.accountId} ${d.counter}`, d.stored - d.fromTransfers] : [`key ${d.key}`, 1n])),
  );
}

const show = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));

describe('the ledger against a model', () => {
  let world: LedgerWorld;
  let system: Pick<Accounts, 'provider' | 'clearing' | 'revenue' | 'payouts'>;

  before(async () => {
    world = await LedgerWorld.create({ driverDebtLimitMinor: DRIVER_DEBT_LIMIT });
    const id = (kind: Parameters<Ledger['systemAccountId']>[0]) => world.ledger.systemAccountId(kind);
    system = { provider: await id('PROVIDER_CLEARING'), clearing: await id('TRIP_CLEARING'), revenue: await id('PLATFORM_REVENUE'), payouts: await id('PAYOUTS') };
  });
  after(() => world?.dispose());

  it('ends every random run of deposits, holds, posts, voids, settlements, withdrawals, refunds and retries with the balances of the model, balanced', async (t) => {
    t.diagnostic(`seed ${SEED}, ${RUNS} runs (LEDGER_MODEL_SEED, LEDGER_MODEL_RUNS)`);
    console.log(`# ledger model: seed ${SEED}, ${RUNS} runs`);
    await fc.assert(
      fc.asyncProperty(program, async ({ groups, maxBatchSize }) => {
        // One batch in flight: calls are decided in the order they were sent, as the model applies them.
        const ledger = new Ledger(world.db, { driverDebtLimitMinor: DRIVER_DEBT_LIMIT, maxBatchSize, maxBatchesInFlight: 1 });
        try {
          const owned = async (kind: 'RIDER_WALLET' | 'DRIVER_WALLET') => (await ledger.openAccount({ kind, ownerId: randomUUID() })).id;
          const accounts: Accounts = { ...system, riders: await Promise.all(Array.from({ length: RIDERS }, () => owned('RIDER_WALLET'))), drivers: await Promise.all(Array.from({ length: DRIVERS }, () => owned('DRIVER_WALLET'))) };
          const model = new Model();
          // System accounts are shared by every run: the model starts from what they hold now.
          for (const { id, debitsPending, debitsPosted, creditsPending, creditsPosted } of await ledger.accounts(Object.values(system))) {
            model.accounts.set(id, { debitsPending, debitsPosted, creditsPending, creditsPosted, limit: null });
          }
          for (const id of accounts.riders) model.accounts.set(id, { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n, limit: 0n });
          for (const id of accounts.drivers) model.accounts.set(id, { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n, limit: DRIVER_DEBT_LIMIT });
          const done: Call[] = [];
          // Balanced unless an earlier failing run left it otherwise: what this run adds is what counts,
          // so a shrunk counterexample (a later, smaller run) is judged on its own.
          const skewBefore = skewOf(await ledger.checkBalanced());

          for (const group of groups) {
            const holds = model.transfers.filter((transfer) => transfer.kind === 'PENDING' && transfer.id !== '');
            // A call retried at most once per group: two sends of one key in one batch share the first's
            // outcome (the same request), while the model would decide the second again.
            const calls = [...new Set(group.flatMap((s) => callsOf(s, accounts, model, holds, done)))];
            const planned = calls.map((call) => ({ call, ...model.apply(call) }));
            const results = await Promise.allSettled(planned.map(({ call }) => send(ledger, call)));
            results.forEach((result, i) => {
              const { call, expected, made } = planned[i]!;
              const what = `${call.method} ${show({ ...call, pending: undefined, original: undefined })}`;
              if ('code' in expected) {
                assert.equal(result.status, 'rejected', `${what}: expected ${expected.code}, got ${show(result.status === 'fulfilled' && result.value)}`);
                assert.equal(result.reason.extensions?.code, expected.code, `${what}: ${result.reason}`);
                if (expected.reason) assert.equal(result.reason.extensions.reason, expected.reason, what);
                return;
              }
              assert.equal(result.status, 'fulfilled', `${what}: expected it accepted, got ${result.status === 'rejected' && result.reason}`);
              const transfer = result.value;
              const { kind, debit, credit, amount, reversalOf } = expected.accepted;
              assert.deepEqual(
                { kind: transfer.kind, debit: transfer.debitAccountId, credit: transfer.creditAccountId, amount: transfer.amount, reversalOf: transfer.reversalOf },
                { kind, debit, credit, amount, reversalOf },
                what,
              );
              if (expected.replayOf) assert.equal(transfer.id, expected.replayOf.id, `${what}: a retry answers the first transfer`);
              if (made) made.id = transfer.id;
            });
            done.push(...calls);

            const stored = await ledger.accounts([...model.accounts.keys()]);
            for (const account of stored) {
              const { limit, ...counters } = model.accounts.get(account.id)!;
              assert.deepEqual({ debitsPending: account.debitsPending, debitsPosted: account.debitsPosted, creditsPending: account.creditsPending, creditsPosted: account.creditsPosted }, counters, `account ${account.id} (limit ${limit})`);
            }
          }
          const check = await ledger.checkBalanced();
          assert.deepEqual(skewOf(check), skewBefore, `this run unbalanced the ledger:\n${describeCheck(check)}`);
        } finally {
          await ledger.close();
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
