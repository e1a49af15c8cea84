/**
 * Every SQL statement about money in and out (payment intents, withdrawals, the provider's events) and
 * about fraud flags. The ledger's own statements stay in ledger/ledger-repository.ts; a statement here that
 * must commit with ledger transfers takes the `run` of that transaction (Ledger.transaction). Bigints are
 * read as text: PGlite answers a bigint as a JS number.
 */
import { arrayLiteral, type EntityManager } from '../../../platform/db.ts';
import type { KeysetCursor } from '../../../platform/pagination.ts';
import { statementsOf, type Row, type RunStatement } from '../ledger/index.ts';

const INTENTS = '"wallet"."payment_intents"';
const WITHDRAWALS = '"wallet"."withdrawals"';
const EVENTS = '"wallet"."payment_provider_events"';
const FLAGS = '"wallet"."fraud_flags"';
const TRANSFERS = '"wallet"."ledger_transfers"';

export type WalletKind = 'RIDER_WALLET' | 'DRIVER_WALLET';
export type IntentStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';
export type WithdrawalStatus = 'REQUESTED' | 'PROCESSING' | 'PAID' | 'FAILED' | 'REJECTED';
export type EventOutcome = 'APPLIED' | 'ALREADY_APPLIED' | 'IGNORED' | 'UNKNOWN_OBJECT' | 'MISMATCH';
export type FraudRule = 'VELOCITY' | 'DEPOSIT_THEN_WITHDRAW' | 'FAILED_DEPOSITS';

export interface PaymentIntent {
  id: string;
  ownerId: string;
  accountKind: WalletKind;
  amount: bigint;
  currency: string;
  status: IntentStatus;
  provider: string;
  providerReference: string | null;
  checkoutUrl: string | null;
  idempotencyKey: string;
  requestHash: string;
  failureReason: string | null;
  depositTransferId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WithdrawalRecord {
  id: string;
  ownerId: string;
  accountKind: WalletKind;
  amount: bigint;
  currency: string;
  status: WithdrawalStatus;
  holdTransferId: string;
  provider: string | null;
  providerReference: string | null;
  idempotencyKey: string;
  requestHash: string;
  reason: string | null;
  decidedBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProviderEventRecord {
  id: string;
  provider: string;
  type: string;
  objectReference: string | null;
  amount: bigint | null;
  currency: string | null;
  outcome: EventOutcome;
  detail: string | null;
  signedAt: Date;
  receivedAt: Date;
}

export interface FraudFlagRecord {
  id: string;
  ownerId: string;
  rule: FraudRule;
  detail: string;
  createdAt: Date;
  clearedAt: Date | null;
  clearedBy: string | null;
  clearNote: string | null;
}

const INTENT_COLUMNS = `"id", "owner_id", "account_kind", "amount"::text as "amount", "currency", "status", "provider", "provider_reference", "checkout_url", "idempotency_key", "request_hash", "failure_reason", "deposit_transfer_id", "created_at", "updated_at"`;
const WITHDRAWAL_COLUMNS = `"id", "owner_id", "account_kind", "amount"::text as "amount", "currency", "status", "hold_transfer_id", "provider", "provider_reference", "idempotency_key", "request_hash", "reason", "decided_by", "created_at", "updated_at"`;
const EVENT_COLUMNS = `"id", "provider", "type", "object_reference", "amount"::text as "amount", "currency", "outcome", "detail", "signed_at", "received_at"`;
const FLAG_COLUMNS = `"id", "owner_id", "rule", "detail", "created_at", "cleared_at", "cleared_by", "clear_note"`;

export class PaymentsRepository {
  /** Statements on their own, outside any transaction (`statementsOf`). */
  readonly #run: RunStatement;

  constructor(db: { fork(): EntityManager }) {
    this.#run = statementsOf(db);
  }

  // ── payment intents ───────────────────────────────────────────────────────────────────────────

  /** Inserts the intent unless the owner already used the key; answers the stored one either way. */
  async insertIntent(intent: Pick<PaymentIntent, 'id' | 'ownerId' | 'accountKind' | 'amount' | 'currency' | 'provider' | 'idempotencyKey' | 'requestHash'>): Promise<{ intent: PaymentIntent; created: boolean }> {
    const run = this.#run;
    const [inserted] = await run(
      `insert into ${INTENTS} ("id", "owner_id", "account_kind", "amount", "currency", "status", "provider", "idempotency_key", "request_hash")
       values (?, ?, ?, ?, ?, 'PENDING', ?, ?, ?) on conflict on constraint "payment_intents_owner_key_unique" do nothing returning ${INTENT_COLUMNS}`,
      [intent.id, intent.ownerId, intent.accountKind, String(intent.amount), intent.currency, intent.provider, intent.idempotencyKey, intent.requestHash],
    );
    if (inserted) return { intent: intentFromRow(inserted), created: true };
    const [existing] = await run(`select ${INTENT_COLUMNS} from ${INTENTS} where "owner_id" = ? and "idempotency_key" = ?`, [intent.ownerId, intent.idempotencyKey]);
    return { intent: intentFromRow(existing!), created: false };
  }

  /** Records the provider's checkout (set once: a second caller's equal answer changes nothing). */
  async setCheckout(intentId: string, providerReference: string, checkoutUrl: string): Promise<PaymentIntent> {
    const [row] = await this.#run(
      `update ${INTENTS} set "provider_reference" = coalesce("provider_reference", ?), "checkout_url" = ?, "updated_at" = now() where "id" = ? returning ${INTENT_COLUMNS}`,
      [providerReference, checkoutUrl, intentId],
    );
    return intentFromRow(row!);
  }

  /**
   * The intent an event names, locked until the transaction ends: by the wallet's id the provider echoed
   * back (when it is one of ours) or else by the provider's reference.
   */
  async lockIntent(name: { walletId: string | null; reference: string }, run: RunStatement): Promise<PaymentIntent | null> {
    const [row] = name.walletId
      ? await run(`select ${INTENT_COLUMNS} from ${INTENTS} where "id" = ? for update`, [name.walletId])
      : await run(`select ${INTENT_COLUMNS} from ${INTENTS} where "provider_reference" = ? for update`, [name.reference]);
    return row ? intentFromRow(row) : null;
  }

  async markIntentSucceeded(id: string, depositTransferId: string, providerReference: string, run: RunStatement): Promise<void> {
    await run(
      `update ${INTENTS} set "status" = 'SUCCEEDED', "deposit_transfer_id" = ?, "failure_reason" = null, "provider_reference" = coalesce("provider_reference", ?), "updated_at" = now() where "id" = ?`,
      [depositTransferId, providerReference, id],
    );
  }

  async markIntentFailed(id: string, reason: string, run: RunStatement): Promise<void> {
    await run(`update ${INTENTS} set "status" = 'FAILED', "failure_reason" = ?, "updated_at" = now() where "id" = ? and "status" = 'PENDING'`, [reason, id]);
  }

  async intentById(id: string): Promise<PaymentIntent | null> {
    const [row] = await this.#run(`select ${INTENT_COLUMNS} from ${INTENTS} where "id" = ?`, [id]);
    return row ? intentFromRow(row) : null;
  }

  /** An owner's intents into one wallet, newest first, after the keyset cursor. */
  async intentsOfOwner(ownerId: string, accountKind: WalletKind, after: KeysetCursor | undefined, limit: number): Promise<PaymentIntent[]> {
    const rows = after
      ? await this.#run(
          `select ${INTENT_COLUMNS} from ${INTENTS} where "owner_id" = ? and "account_kind" = ? and ("created_at", "id") < (?, ?) order by "created_at" desc, "id" desc limit ?`,
          [ownerId, accountKind, after.at, after.id, limit],
        )
      : await this.#run(`select ${INTENT_COLUMNS} from ${INTENTS} where "owner_id" = ? and "account_kind" = ? order by "created_at" desc, "id" desc limit ?`, [ownerId, accountKind, limit]);
    return rows.map(intentFromRow);
  }

  // ── withdrawals ───────────────────────────────────────────────────────────────────────────────

  async withdrawalByKey(ownerId: string, idempotencyKey: string, run: RunStatement = this.#run): Promise<WithdrawalRecord | null> {
    const [row] = await run(`select ${WITHDRAWAL_COLUMNS} from ${WITHDRAWALS} where "owner_id" = ? and "idempotency_key" = ?`, [ownerId, idempotencyKey]);
    return row ? withdrawalFromRow(row) : null;
  }

  /** Inserts a withdrawal (with its hold, in the same transaction); null when the owner's key was taken meanwhile. */
  async insertWithdrawal(withdrawal: Pick<WithdrawalRecord, 'id' | 'ownerId' | 'accountKind' | 'amount' | 'currency' | 'holdTransferId' | 'idempotencyKey' | 'requestHash'>, run: RunStatement): Promise<WithdrawalRecord | null> {
    const [row] = await run(
      `insert into ${WITHDRAWALS} ("id", "owner_id", "account_kind", "amount", "currency", "status", "hold_transfer_id", "idempotency_key", "request_hash")
       values (?, ?, ?, ?, ?, 'REQUESTED', ?, ?, ?) on conflict on constraint "withdrawals_owner_key_unique" do nothing returning ${WITHDRAWAL_COLUMNS}`,
      [withdrawal.id, withdrawal.ownerId, withdrawal.accountKind, String(withdrawal.amount), withdrawal.currency, withdrawal.holdTransferId, withdrawal.idempotencyKey, withdrawal.requestHash],
    );
    return row ? withdrawalFromRow(row) : null;
  }

  async withdrawalById(id: string, run: RunStatement = this.#run, lock = false): Promise<WithdrawalRecord | null> {
    const [row] = await run(`select ${WITHDRAWAL_COLUMNS} from ${WITHDRAWALS} where "id" = ?${lock ? ' for update' : ''}`, [id]);
    return row ? withdrawalFromRow(row) : null;
  }

  /** The withdrawal an event names, locked: by the id the provider echoed back, or else by the payout's reference. */
  async lockWithdrawal(name: { walletId: string | null; reference: string }, run: RunStatement): Promise<WithdrawalRecord | null> {
    const [row] = name.walletId
      ? await run(`select ${WITHDRAWAL_COLUMNS} from ${WITHDRAWALS} where "id" = ? for update`, [name.walletId])
      : await run(`select ${WITHDRAWAL_COLUMNS} from ${WITHDRAWALS} where "provider_reference" = ? for update`, [name.reference]);
    return row ? withdrawalFromRow(row) : null;
  }

  /** Moves a withdrawal from `from` to `to` (null when it was no longer in `from`: another caller decided first). */
  async transitionWithdrawal(id: string, from: WithdrawalStatus, to: WithdrawalStatus, changes: { reason?: string | null; decidedBy?: string | null; provider?: string | null; providerReference?: string | null }, run: RunStatement = this.#run): Promise<WithdrawalRecord | null> {
    const [row] = await run(
      `update ${WITHDRAWALS} set "status" = ?, "reason" = coalesce(?, "reason"), "decided_by" = coalesce(?, "decided_by"), "provider" = coalesce(?, "provider"),
         "provider_reference" = coalesce(?, "provider_reference"), "updated_at" = now() where "id" = ? and "status" = ? returning ${WITHDRAWAL_COLUMNS}`,
      [to, changes.reason ?? null, changes.decidedBy ?? null, changes.provider ?? null, changes.providerReference ?? null, id, from],
    );
    return row ? withdrawalFromRow(row) : null;
  }

  /** Withdrawals newest first: an owner's (one wallet), or every owner's in a status (admins). */
  async withdrawals(filter: { ownerId?: string; accountKind?: WalletKind; status?: WithdrawalStatus | null }, after: KeysetCursor | undefined, limit: number): Promise<WithdrawalRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.ownerId) where.push('"owner_id" = ?'), params.push(filter.ownerId);
    if (filter.accountKind) where.push('"account_kind" = ?'), params.push(filter.accountKind);
    if (filter.status) where.push('"status" = ?'), params.push(filter.status);
    if (after) where.push('("created_at", "id") < (?, ?)'), params.push(after.at, after.id);
    const rows = await this.#run(`select ${WITHDRAWAL_COLUMNS} from ${WITHDRAWALS} ${where.length ? `where ${where.join(' and ')}` : ''} order by "created_at" desc, "id" desc limit ?`, [...params, limit]);
    return rows.map(withdrawalFromRow);
  }

  // ── the provider's events ─────────────────────────────────────────────────────────────────────

  /** Records an event under its id; false when it was recorded before (a duplicate or replay: nothing more to do). */
  async recordEvent(event: Omit<ProviderEventRecord, 'receivedAt'>, run: RunStatement): Promise<boolean> {
    const rows = await run(
      `insert into ${EVENTS} ("id", "provider", "type", "object_reference", "amount", "currency", "outcome", "detail", "signed_at") values (?, ?, ?, ?, ?, ?, ?, ?, ?)
       on conflict ("id") do nothing returning "id"`,
      [event.id, event.provider, event.type, event.objectReference, event.amount === null ? null : String(event.amount), event.currency, event.outcome, event.detail, event.signedAt],
    );
    return rows.length === 1;
  }

  /** What the recorded event did, once the transaction that recorded it knows. */
  async setEventOutcome(id: string, outcome: EventOutcome, detail: string | null, run: RunStatement): Promise<void> {
    await run(`update ${EVENTS} set "outcome" = ?, "detail" = ? where "id" = ?`, [outcome, detail, id]);
  }

  async eventsAbout(reference: string): Promise<ProviderEventRecord[]> {
    return (await this.#run(`select ${EVENT_COLUMNS} from ${EVENTS} where "object_reference" = ? order by "received_at"`, [reference])).map(eventFromRow);
  }

  // ── fraud ─────────────────────────────────────────────────────────────────────────────────────

  /** Money movements an owner started since `since`: deposits started and withdrawals requested. */
  async movementsSince(ownerId: string, since: Date): Promise<number> {
    const [row] = await this.#run(
      `select (select count(*) from ${INTENTS} where "owner_id" = ? and "created_at" >= ?) + (select count(*) from ${WITHDRAWALS} where "owner_id" = ? and "created_at" >= ?) as "count"`,
      [ownerId, since, ownerId, since],
    );
    return Number(row!.count);
  }

  async failedDepositsSince(ownerId: string, since: Date): Promise<number> {
    const [row] = await this.#run(`select count(*) as "count" from ${INTENTS} where "owner_id" = ? and "status" = 'FAILED' and "updated_at" >= ?`, [ownerId, since]);
    return Number(row!.count);
  }

  /** What an owner paid in (succeeded deposits) since `since`, in minor units. */
  async depositedSince(ownerId: string, since: Date): Promise<bigint> {
    const [row] = await this.#run(`select coalesce(sum("amount"), 0)::text as "sum" from ${INTENTS} where "owner_id" = ? and "status" = 'SUCCEEDED' and "updated_at" >= ?`, [ownerId, since]);
    return BigInt(row!.sum as string);
  }

  /** Opens a flag unless the owner has one open for the rule; answers the new flag, or null. */
  async openFlag(flag: Pick<FraudFlagRecord, 'id' | 'ownerId' | 'rule' | 'detail'>): Promise<FraudFlagRecord | null> {
    const [row] = await this.#run(
      `insert into ${FLAGS} ("id", "owner_id", "rule", "detail") values (?, ?, ?, ?) on conflict ("owner_id", "rule") where "cleared_at" is null do nothing returning ${FLAG_COLUMNS}`,
      [flag.id, flag.ownerId, flag.rule, flag.detail],
    );
    return row ? flagFromRow(row) : null;
  }

  async openFlagsOf(ownerId: string): Promise<FraudFlagRecord[]> {
    return (await this.#run(`select ${FLAG_COLUMNS} from ${FLAGS} where "owner_id" = ? and "cleared_at" is null order by "created_at"`, [ownerId])).map(flagFromRow);
  }

  async flags(filter: { open: boolean | null; ownerId: string | null }, after: KeysetCursor | undefined, limit: number): Promise<FraudFlagRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.open !== null) where.push(filter.open ? '"cleared_at" is null' : '"cleared_at" is not null');
    if (filter.ownerId) where.push('"owner_id" = ?'), params.push(filter.ownerId);
    if (after) where.push('("created_at", "id") < (?, ?)'), params.push(after.at, after.id);
    const rows = await this.#run(`select ${FLAG_COLUMNS} from ${FLAGS} ${where.length ? `where ${where.join(' and ')}` : ''} order by "created_at" desc, "id" desc limit ?`, [...params, limit]);
    return rows.map(flagFromRow);
  }

  /** Clears an open flag; null when it is not open (unknown, or cleared by someone else first). */
  async clearFlag(id: string, adminId: string, note: string): Promise<FraudFlagRecord | null> {
    const [row] = await this.#run(
      `update ${FLAGS} set "cleared_at" = now(), "cleared_by" = ?, "clear_note" = ? where "id" = ? and "cleared_at" is null returning ${FLAG_COLUMNS}`,
      [adminId, note, id],
    );
    return row ? flagFromRow(row) : null;
  }

  async flagById(id: string): Promise<FraudFlagRecord | null> {
    const [row] = await this.#run(`select ${FLAG_COLUMNS} from ${FLAGS} where "id" = ?`, [id]);
    return row ? flagFromRow(row) : null;
  }

  // ── reconciliation ────────────────────────────────────────────────────────────────────────────

  /**
   * Deposits and their ledger side in [from, to): succeeded intents whose transfer is missing or differs,
   * and DEPOSIT transfers no succeeded intent names.
   */
  async depositMismatches(from: Date, to: Date): Promise<Array<{ kind: 'INTENT_NOT_CREDITED' | 'DEPOSIT_AMOUNT_DIFFERS' | 'DEPOSIT_WITHOUT_INTENT'; reference: string; detail: string }>> {
    const run = this.#run;
    const intents = await run(
      `select i."id", i."amount"::text as "amount", t."amount"::text as "credited", t."code" from ${INTENTS} as i left join ${TRANSFERS} as t on t."id" = i."deposit_transfer_id"
       where i."status" = 'SUCCEEDED' and i."updated_at" >= ? and i."updated_at" < ? and (t."id" is null or t."amount" <> i."amount" or t."code" <> 'DEPOSIT')`,
      [from, to],
    );
    const orphans = await run(
      `select t."id", t."amount"::text as "amount" from ${TRANSFERS} as t where t."code" = 'DEPOSIT' and t."created_at" >= ? and t."created_at" < ?
         and not exists (select 1 from ${INTENTS} as i where i."deposit_transfer_id" = t."id" and i."status" = 'SUCCEEDED')`,
      [from, to],
    );
    return [
      ...intents.map((row) =>
        row.credited === null
          ? { kind: 'INTENT_NOT_CREDITED' as const, reference: row.id as string, detail: `deposit ${row.id} succeeded for ${row.amount} minor units but no deposit transfer credits it` }
          : { kind: 'DEPOSIT_AMOUNT_DIFFERS' as const, reference: row.id as string, detail: `deposit ${row.id} succeeded for ${row.amount} minor units; its transfer moved ${row.credited}` },
      ),
      ...orphans.map((row) => ({ kind: 'DEPOSIT_WITHOUT_INTENT' as const, reference: row.id as string, detail: `deposit transfer ${row.id} (${row.amount} minor units) belongs to no succeeded payment intent` })),
    ];
  }

  /** Paid withdrawals whose hold was not posted, and posted withdrawal holds whose withdrawal is not PAID, in [from, to). */
  async withdrawalMismatches(from: Date, to: Date): Promise<Array<{ kind: 'PAYOUT_NOT_POSTED' | 'POSTED_WITHOUT_PAYOUT'; reference: string; detail: string }>> {
    const rows = await this.#run(
      `select w."id", w."status", w."amount"::text as "amount", p."id" as "post_id" from ${WITHDRAWALS} as w
       left join ${TRANSFERS} as p on p."pending_id" = w."hold_transfer_id" and p."kind" = 'POST_PENDING'
       where w."updated_at" >= ? and w."updated_at" < ? and ((w."status" = 'PAID') <> (p."id" is not null))`,
      [from, to],
    );
    return rows.map((row) =>
      row.status === 'PAID'
        ? { kind: 'PAYOUT_NOT_POSTED' as const, reference: row.id as string, detail: `withdrawal ${row.id} is PAID but its hold of ${row.amount} minor units was never posted` }
        : { kind: 'POSTED_WITHOUT_PAYOUT' as const, reference: row.id as string, detail: `withdrawal ${row.id} is ${row.status} but its hold was posted` },
    );
  }

  /** Provider events of [from, to) that matched nothing or disagreed with what they named. */
  async unmatchedEvents(from: Date, to: Date): Promise<ProviderEventRecord[]> {
    return (await this.#run(`select ${EVENT_COLUMNS} from ${EVENTS} where "received_at" >= ? and "received_at" < ? and "outcome" in ('UNKNOWN_OBJECT', 'MISMATCH') order by "received_at"`, [from, to])).map(eventFromRow);
  }

  /** Intents and withdrawals settled in [from, to) by a provider result with no recorded provider event naming them. */
  async resultsWithoutEvents(from: Date, to: Date): Promise<Array<{ reference: string; detail: string }>> {
    const rows = await this.#run(
      `select 'deposit' as "what", i."id", i."status" from ${INTENTS} as i where i."status" in ('SUCCEEDED', 'FAILED') and i."updated_at" >= ? and i."updated_at" < ?
         and not exists (select 1 from ${EVENTS} as e where e."object_reference" = i."provider_reference" and e."outcome" = 'APPLIED')
       union all
       select 'withdrawal', w."id", w."status" from ${WITHDRAWALS} as w where w."status" in ('PAID', 'FAILED') and w."updated_at" >= ? and w."updated_at" < ?
         and not exists (select 1 from ${EVENTS} as e where e."object_reference" = w."provider_reference" and e."outcome" = 'APPLIED')`,
      [from, to, from, to],
    );
    return rows.map((row) => ({ reference: row.id as string, detail: `${row.what} ${row.id} is ${row.status} without a provider event that says so` }));
  }

  /**
   * Trip events the settlement consumer gave up on (parked in dead_events) in [from, to), unless the
   * ledger has settled the trip since (a later event, or a replay, settled it).
   */
  async parkedSettlements(consumer: string, from: Date, to: Date): Promise<Array<{ eventId: string; type: string | null; tripId: string | null; lastError: string | null }>> {
    const rows = await this.#run(
      `select d."event_id", d."type", d."event", d."last_error" from "wallet"."dead_events" as d where d."consumer" = ? and d."parked_at" >= ? and d."parked_at" < ? order by d."parked_at"`,
      [consumer, from, to],
    );
    const parked = rows.map((row) => {
      let tripId: string | null = null;
      try {
        tripId = (JSON.parse(row.event as string) as { data?: { tripId?: unknown } }).data?.tripId as string;
      } catch {
        // An unreadable event is reported without its trip.
      }
      return { eventId: row.event_id as string, type: (row.type as string | null) ?? null, tripId: typeof tripId === 'string' ? tripId : null, lastError: (row.last_error as string | null) ?? null };
    });
    const trips = parked.flatMap((event) => (event.tripId ? [event.tripId] : []));
    if (trips.length === 0) return parked;
    const settled = new Set(
      (await this.#run(`select distinct "reference" from ${TRANSFERS} where "reference" = any(?::text[]) and "code" in ('DRIVER_EARNINGS', 'CASH_COMMISSION', 'CANCELLATION_COMPENSATION')`, [arrayLiteral(trips)])).map((row) => row.reference as string),
    );
    return parked.filter((event) => !event.tripId || !settled.has(event.tripId));
  }

  /** Totals of [from, to) for the report's summary. */
  async totals(from: Date, to: Date): Promise<{ deposits: number; depositedMinor: bigint; failedDeposits: number; payouts: number; paidOutMinor: bigint; providerEvents: number }> {
    const [row] = await this.#run(
      `select (select count(*) from ${INTENTS} where "status" = 'SUCCEEDED' and "updated_at" >= ? and "updated_at" < ?) as "deposits",
              (select coalesce(sum("amount"), 0)::text from ${INTENTS} where "status" = 'SUCCEEDED' and "updated_at" >= ? and "updated_at" < ?) as "deposited",
              (select count(*) from ${INTENTS} where "status" = 'FAILED' and "updated_at" >= ? and "updated_at" < ?) as "failed",
              (select count(*) from ${WITHDRAWALS} where "status" = 'PAID' and "updated_at" >= ? and "updated_at" < ?) as "payouts",
              (select coalesce(sum("amount"), 0)::text from ${WITHDRAWALS} where "status" = 'PAID' and "updated_at" >= ? and "updated_at" < ?) as "paid_out",
              (select count(*) from ${EVENTS} where "received_at" >= ? and "received_at" < ?) as "events"`,
      [from, to, from, to, from, to, from, to, from, to, from, to],
    );
    return {
      deposits: Number(row!.deposits),
      depositedMinor: BigInt(row!.deposited as string),
      failedDeposits: Number(row!.failed),
      payouts: Number(row!.payouts),
      paidOutMinor: BigInt(row!.paid_out as string),
      providerEvents: Number(row!.events),
    };
  }

  /**
   * Trips' settlement in the ledger for transfers of [from, to): trips with a leg applied more than once
   * (two fare captures, two driver shares, two cash commissions), and WALLET trips whose fare was captured
   * without the driver's share or the commission.
   */
  async settlementAnomalies(from: Date, to: Date): Promise<Array<{ kind: 'TRIP_SETTLED_TWICE' | 'TRIP_SETTLEMENT_INCOMPLETE'; reference: string; detail: string }>> {
    const rows = await this.#run(
      `with trips as (select distinct "reference" from ${TRANSFERS} where "created_at" >= ? and "created_at" < ? and "reference" is not null
                        and "code" in ('TRIP_FARE', 'DRIVER_EARNINGS', 'COMMISSION', 'CASH_COMMISSION'))
       select t."reference",
              count(*) filter (where l."code" = 'TRIP_FARE' and l."kind" in ('SINGLE', 'POST_PENDING')) as "fares",
              count(*) filter (where l."code" = 'DRIVER_EARNINGS' and l."reversal_of" is null) as "shares",
              count(*) filter (where l."code" = 'COMMISSION') as "commissions",
              count(*) filter (where l."code" = 'CASH_COMMISSION') as "cash_commissions"
       from trips as t join ${TRANSFERS} as l on l."reference" = t."reference" group by t."reference"`,
      [from, to],
    );
    const anomalies: Array<{ kind: 'TRIP_SETTLED_TWICE' | 'TRIP_SETTLEMENT_INCOMPLETE'; reference: string; detail: string }> = [];
    for (const row of rows) {
      const [fares, shares, commissions, cash] = [Number(row.fares), Number(row.shares), Number(row.commissions), Number(row.cash_commissions)];
      const trip = row.reference as string;
      if (fares > 1 || shares > 1 || commissions > 1 || cash > 1) anomalies.push({ kind: 'TRIP_SETTLED_TWICE', reference: trip, detail: `trip ${trip}: ${fares} fare captures, ${shares} driver shares, ${commissions} commissions, ${cash} cash commissions` });
      else if (fares === 1 && (shares === 0 || commissions === 0)) anomalies.push({ kind: 'TRIP_SETTLEMENT_INCOMPLETE', reference: trip, detail: `trip ${trip}: the fare was captured but ${shares === 0 ? "the driver's share" : 'the commission'} is missing` });
    }
    return anomalies;
  }
}

const date = (value: unknown) => (value instanceof Date ? value : new Date(value as string));
const bigintOrNull = (value: unknown) => (value === null || value === undefined ? null : BigInt(value as string));

function intentFromRow(row: Row): PaymentIntent {
  return {
    id: row.id as string,
    ownerId: row.owner_id as string,
    accountKind: row.account_kind as WalletKind,
    amount: BigInt(row.amount as string),
    currency: (row.currency as string).trim(),
    status: row.status as IntentStatus,
    provider: row.provider as string,
    providerReference: (row.provider_reference as string | null) ?? null,
    checkoutUrl: (row.checkout_url as string | null) ?? null,
    idempotencyKey: row.idempotency_key as string,
    requestHash: (row.request_hash as string).trim(),
    failureReason: (row.failure_reason as string | null) ?? null,
    depositTransferId: (row.deposit_transfer_id as string | null) ?? null,
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}

function withdrawalFromRow(row: Row): WithdrawalRecord {
  return {
    id: row.id as string,
    ownerId: row.owner_id as string,
    accountKind: row.account_kind as WalletKind,
    amount: BigInt(row.amount as string),
    currency: (row.currency as string).trim(),
    status: row.status as WithdrawalStatus,
    holdTransferId: row.hold_transfer_id as string,
    provider: (row.provider as string | null) ?? null,
    providerReference: (row.provider_reference as string | null) ?? null,
    idempotencyKey: row.idempotency_key as string,
    requestHash: (row.request_hash as string).trim(),
    reason: (row.reason as string | null) ?? null,
    decidedBy: (row.decided_by as string | null) ?? null,
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}

function eventFromRow(row: Row): ProviderEventRecord {
  return {
    id: row.id as string,
    provider: row.provider as string,
    type: row.type as string,
    objectReference: (row.object_reference as string | null) ?? null,
    amount: bigintOrNull(row.amount),
    currency: row.currency ? (row.currency as string).trim() : null,
    outcome: row.outcome as EventOutcome,
    detail: (row.detail as string | null) ?? null,
    signedAt: date(row.signed_at),
    receivedAt: date(row.received_at),
  };
}

function flagFromRow(row: Row): FraudFlagRecord {
  return {
    id: row.id as string,
    ownerId: row.owner_id as string,
    rule: row.rule as FraudRule,
    detail: row.detail as string,
    createdAt: date(row.created_at),
    clearedAt: row.cleared_at ? date(row.cleared_at) : null,
    clearedBy: (row.cleared_by as string | null) ?? null,
    clearNote: (row.clear_note as string | null) ?? null,
  };
}
