import { Migration } from '@mikro-orm/migrations';
import type { MigrationEntry } from '../../platform/db.ts';

class CreateWalletsAndPayments extends Migration {
  override up() {
    this.addSql(`create table "wallets" (
      "user_id" uuid primary key,
      "balance_minor" bigint not null default 0 constraint "wallets_balance_not_negative" check ("balance_minor" >= 0),
      "currency" char(3) not null default 'EGP',
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    )`);
    this.addSql(`create table "payments" (
      "id" uuid primary key,
      "trip_id" uuid not null constraint "payments_trip_id_unique" unique,
      "payer_user_id" uuid not null,
      "payee_user_id" uuid null,
      "method" varchar(16) not null check ("method" in ('CASH', 'WALLET')),
      "status" varchar(16) not null check ("status" in ('PENDING', 'CAPTURED', 'FAILED', 'REFUNDED')),
      "amount_minor" bigint not null constraint "payments_amount_positive" check ("amount_minor" > 0),
      "currency" char(3) not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    )`);
    // A user's payments, newest first, as payer and as payee (wallet transactions, reconciliation).
    this.addSql(`create index "payments_payer_user_id_created_at_id_index" on "payments" ("payer_user_id", "created_at" desc, "id" desc)`);
    this.addSql(`create index "payments_payee_user_id_created_at_id_index" on "payments" ("payee_user_id", "created_at" desc, "id" desc)
      where "payee_user_id" is not null`);
  }
}

/**
 * The double-entry ledger (subgraphs/wallet/ledger/), shaped like TigerBeetle's: accounts carry debits and
 * credits, posted and pending; transfers move one amount from one account to another and are never
 * changed; a pending transfer (a hold) is later posted (whole or part) or voided, at most once. What code
 * must never do, the database refuses too: each invariant below is a constraint or a trigger.
 */
class CreateLedger extends Migration {
  override up() {
    this.addSql(`create table "wallet"."ledger_accounts" (
      "id" uuid primary key,
      "kind" varchar(32) not null constraint "ledger_accounts_kind_known"
        check ("kind" in ('RIDER_WALLET', 'DRIVER_WALLET', 'PARTNER', 'PLATFORM_REVENUE', 'PROVIDER_CLEARING', 'PAYOUTS', 'TRIP_CLEARING')),
      "owner_id" uuid null,
      "currency" char(3) not null constraint "ledger_accounts_currency_iso" check ("currency" ~ '^[A-Z]{3}$'),
      "balance_rule" varchar(40) not null constraint "ledger_accounts_balance_rule_known" check ("balance_rule" in ('NONE', 'DEBITS_MUST_NOT_EXCEED_CREDITS')),
      "debit_limit" bigint not null default 0 constraint "ledger_accounts_debit_limit_not_negative" check ("debit_limit" >= 0),
      "debits_pending" bigint not null default 0 constraint "ledger_accounts_debits_pending_not_negative" check ("debits_pending" >= 0),
      "debits_posted" bigint not null default 0 constraint "ledger_accounts_debits_posted_not_negative" check ("debits_posted" >= 0),
      "credits_pending" bigint not null default 0 constraint "ledger_accounts_credits_pending_not_negative" check ("credits_pending" >= 0),
      "credits_posted" bigint not null default 0 constraint "ledger_accounts_credits_posted_not_negative" check ("credits_posted" >= 0),
      "created_at" timestamptz not null default now(),
      -- Wallets and partner accounts belong to someone; system accounts to no one.
      constraint "ledger_accounts_owner_matches_kind" check (("kind" in ('RIDER_WALLET', 'DRIVER_WALLET', 'PARTNER')) = ("owner_id" is not null)),
      -- A rider wallet never goes below zero; a driver wallet only down to its debit limit (commission debt).
      constraint "ledger_accounts_rider_wallet_never_negative" check ("kind" <> 'RIDER_WALLET' or ("balance_rule" = 'DEBITS_MUST_NOT_EXCEED_CREDITS' and "debit_limit" = 0)),
      constraint "ledger_accounts_driver_wallet_limited" check ("kind" <> 'DRIVER_WALLET' or "balance_rule" = 'DEBITS_MUST_NOT_EXCEED_CREDITS'),
      -- Pending debits count: a hold takes the money out of what can be spent.
      constraint "ledger_accounts_debits_must_not_exceed_credits"
        check ("balance_rule" = 'NONE' or "debits_pending" + "debits_posted" <= "credits_posted" + "debit_limit"),
      constraint "ledger_accounts_kind_owner_currency_unique" unique nulls not distinct ("kind", "owner_id", "currency"),
      -- Target of the transfers' (account, currency) foreign keys: a transfer moves its accounts' currency only.
      constraint "ledger_accounts_id_currency_unique" unique ("id", "currency")
    ) with (fillfactor = 80)`);

    this.addSql(`create table "wallet"."ledger_transfers" (
      "id" uuid primary key,
      -- Order of application: per account, a later transfer has a larger seq (it is drawn after the account's row lock).
      "seq" bigint generated always as identity,
      "kind" varchar(16) not null constraint "ledger_transfers_kind_known" check ("kind" in ('SINGLE', 'PENDING', 'POST_PENDING', 'VOID_PENDING')),
      "debit_account_id" uuid not null,
      "credit_account_id" uuid not null,
      "amount" bigint not null constraint "ledger_transfers_amount_positive" check ("amount" > 0),
      "currency" char(3) not null,
      "code" varchar(40) not null,
      "reference" varchar(200) null,
      "pending_id" uuid null constraint "ledger_transfers_pending_id_foreign" references "wallet"."ledger_transfers" ("id"),
      "reversal_of" uuid null constraint "ledger_transfers_reversal_of_foreign" references "wallet"."ledger_transfers" ("id"),
      "expires_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      constraint "ledger_transfers_debit_is_not_credit" check ("debit_account_id" <> "credit_account_id"),
      constraint "ledger_transfers_debit_account_currency_foreign" foreign key ("debit_account_id", "currency") references "wallet"."ledger_accounts" ("id", "currency"),
      constraint "ledger_transfers_credit_account_currency_foreign" foreign key ("credit_account_id", "currency") references "wallet"."ledger_accounts" ("id", "currency"),
      constraint "ledger_transfers_pending_id_iff_post_or_void" check (("kind" in ('POST_PENDING', 'VOID_PENDING')) = ("pending_id" is not null)),
      constraint "ledger_transfers_only_single_reverses" check ("reversal_of" is null or "kind" = 'SINGLE'),
      constraint "ledger_transfers_only_pending_expires" check ("expires_at" is null or "kind" = 'PENDING')
    )`);
    // A pending transfer is posted or voided at most once.
    this.addSql(`create unique index "ledger_transfers_pending_resolved_once" on "wallet"."ledger_transfers" ("pending_id") where "pending_id" is not null`);
    this.addSql(`create index "ledger_transfers_reversal_of_index" on "wallet"."ledger_transfers" ("reversal_of") where "reversal_of" is not null`);
    // An account's transfers, newest first: one index per side (a page is the merge of two index scans).
    this.addSql(`create index "ledger_transfers_debit_account_seq_index" on "wallet"."ledger_transfers" ("debit_account_id", "seq" desc)`);
    this.addSql(`create index "ledger_transfers_credit_account_seq_index" on "wallet"."ledger_transfers" ("credit_account_id", "seq" desc)`);

    // Transfers are immutable: corrections are reversals (new transfers), never edits.
    this.addSql(`create function "wallet"."ledger_transfers_immutable"() returns trigger language plpgsql as $$
      begin
        raise exception 'ledger transfers are immutable (% refused): correct one with a reversal', tg_op using errcode = 'integrity_constraint_violation';
      end $$`);
    this.addSql(`create trigger "ledger_transfers_no_update_or_delete" before update or delete on "wallet"."ledger_transfers"
      for each statement execute function "wallet"."ledger_transfers_immutable"()`);
    this.addSql(`create trigger "ledger_transfers_no_truncate" before truncate on "wallet"."ledger_transfers"
      for each statement execute function "wallet"."ledger_transfers_immutable"()`);

    // A post or void names a pending transfer between the same accounts; a post moves at most the pending
    // amount, a void releases exactly it. AFTER triggers run at the end of the statement, so a pending
    // transfer inserted by the same statement (one batch) is seen.
    this.addSql(`create function "wallet"."ledger_transfers_check_resolution"() returns trigger language plpgsql as $$
      declare pending record;
      begin
        select "kind", "debit_account_id", "credit_account_id", "currency", "amount" into pending from "wallet"."ledger_transfers" where "id" = new."pending_id";
        if not found or pending."kind" <> 'PENDING' then
          raise exception 'transfer % resolves %, which is not a pending transfer', new."id", new."pending_id" using errcode = 'check_violation';
        end if;
        if pending."debit_account_id" <> new."debit_account_id" or pending."credit_account_id" <> new."credit_account_id" or pending."currency" <> new."currency" then
          raise exception 'transfer % resolves % between other accounts', new."id", new."pending_id" using errcode = 'check_violation';
        end if;
        if new."kind" = 'POST_PENDING' and new."amount" > pending."amount" then
          raise exception 'transfer % posts % of a pending %', new."id", new."amount", pending."amount" using errcode = 'check_violation';
        end if;
        if new."kind" = 'VOID_PENDING' and new."amount" <> pending."amount" then
          raise exception 'transfer % voids % of a pending %', new."id", new."amount", pending."amount" using errcode = 'check_violation';
        end if;
        return null;
      end $$`);
    this.addSql(`create trigger "ledger_transfers_resolution_valid" after insert on "wallet"."ledger_transfers"
      for each row when (new."pending_id" is not null) execute function "wallet"."ledger_transfers_check_resolution"()`);

    // A reversal sends a posted transfer's amount back, in part or whole, never more than the original in total.
    this.addSql(`create function "wallet"."ledger_transfers_check_reversal"() returns trigger language plpgsql as $$
      declare original record;
      begin
        select "kind", "debit_account_id", "credit_account_id", "currency", "amount", "reversal_of" into original from "wallet"."ledger_transfers" where "id" = new."reversal_of";
        if not found or original."kind" not in ('SINGLE', 'POST_PENDING') or original."reversal_of" is not null then
          raise exception 'transfer % reverses %, which is not a posted transfer', new."id", new."reversal_of" using errcode = 'check_violation';
        end if;
        if original."debit_account_id" <> new."credit_account_id" or original."credit_account_id" <> new."debit_account_id" or original."currency" <> new."currency" then
          raise exception 'transfer % does not send % back', new."id", new."reversal_of" using errcode = 'check_violation';
        end if;
        if (select sum("amount") from "wallet"."ledger_transfers" where "reversal_of" = new."reversal_of") > original."amount" then
          raise exception 'reversals of % exceed its amount %', new."reversal_of", original."amount" using errcode = 'check_violation';
        end if;
        return null;
      end $$`);
    this.addSql(`create trigger "ledger_transfers_reversal_valid" after insert on "wallet"."ledger_transfers"
      for each row when (new."reversal_of" is not null) execute function "wallet"."ledger_transfers_check_reversal"()`);

    // Every money-moving call's idempotency key, with a digest of its parameters and the transfer it made
    // (checked at commit: the key is claimed before the transfer exists). Kept at least 24 h, then purged.
    this.addSql(`create table "wallet"."ledger_idempotency_keys" (
      "key" varchar(200) primary key,
      "request_hash" char(64) not null,
      "transfer_id" uuid not null constraint "ledger_idempotency_keys_transfer_id_foreign" references "wallet"."ledger_transfers" ("id") deferrable initially deferred,
      "created_at" timestamptz not null default now()
    )`);
    this.addSql(`create index "ledger_idempotency_keys_created_at_index" on "wallet"."ledger_idempotency_keys" ("created_at")`);
  }
}

/**
 * An idempotency key names its transfer without a foreign key. Both are written by one transaction (a
 * refused call releases its key in it), and the deferred check at commit cost about a third of a batch's
 * time; `checkBalanced` reports a key whose transfer is missing instead.
 */
class LedgerKeysWithoutForeignKey extends Migration {
  override up() {
    this.addSql(`alter table "wallet"."ledger_idempotency_keys" drop constraint "ledger_idempotency_keys_transfer_id_foreign"`);
  }
}

/**
 * What the wallet needs of the ledger to settle trips. Transfers gain `user_data` (TigerBeetle's
 * user_data_64, kept and never interpreted by the ledger: the wallet puts the fare on a trip's driver
 * share and on a cash commission) and an index on `reference` (a trip's payment is every transfer about
 * it: one statement for a page of trips). Drivers gain a receivable: what they owe beyond their wallet's
 * debit limit, recorded rather than refused.
 */
class LedgerUserDataAndReceivables extends Migration {
  override up() {
    this.addSql(`alter table "wallet"."ledger_transfers" add column "user_data" bigint null`);
    this.addSql(`create index "ledger_transfers_reference_index" on "wallet"."ledger_transfers" ("reference") where "reference" is not null`);
    this.addSql(`alter table "wallet"."ledger_accounts" drop constraint "ledger_accounts_kind_known", add constraint "ledger_accounts_kind_known"
      check ("kind" in ('RIDER_WALLET', 'DRIVER_WALLET', 'DRIVER_RECEIVABLE', 'PARTNER', 'PLATFORM_REVENUE', 'PROVIDER_CLEARING', 'PAYOUTS', 'TRIP_CLEARING'))`);
    this.addSql(`alter table "wallet"."ledger_accounts" drop constraint "ledger_accounts_owner_matches_kind", add constraint "ledger_accounts_owner_matches_kind"
      check (("kind" in ('RIDER_WALLET', 'DRIVER_WALLET', 'DRIVER_RECEIVABLE', 'PARTNER')) = ("owner_id" is not null))`);
  }
}

/**
 * The seeded `wallets` and `payments` tables go: nothing but the demo seed ever wrote them (production
 * never seeds demo data), balances and payments are read from the ledger now, and the demo city's history
 * is ledger transfers (seed.ts), seeded again on the next start of an existing data directory.
 */
class DropSeededWalletsAndPayments extends Migration {
  override up() {
    this.addSql(`drop table if exists "wallet"."payments"`);
    this.addSql(`drop table if exists "wallet"."wallets"`);
  }
}

/**
 * Money in and out through the payment provider, and what watches it. A deposit is a payment intent
 * (PENDING → SUCCEEDED | FAILED, by the provider's webhook; the ledger's DEPOSIT transfer is keyed by its
 * id, so it is credited once). A withdrawal holds the driver's money (a ledger hold keyed by its id) from
 * REQUESTED, through an admin's decision, to PAID (the hold posted) or FAILED / REJECTED (voided). Every
 * provider event is recorded once under its own id, with what it did: the first record wins, a repeat
 * changes nothing. Fraud flags are open until an admin clears them; one open flag per rule and owner.
 */
class PaymentIntentsWithdrawalsAndFlags extends Migration {
  override up() {
    this.addSql(`create table "wallet"."payment_intents" (
      "id" uuid primary key,
      "owner_id" uuid not null,
      "account_kind" varchar(32) not null constraint "payment_intents_account_kind_known" check ("account_kind" in ('RIDER_WALLET', 'DRIVER_WALLET')),
      "amount" bigint not null constraint "payment_intents_amount_positive" check ("amount" > 0),
      "currency" char(3) not null constraint "payment_intents_currency_iso" check ("currency" ~ '^[A-Z]{3}$'),
      "status" varchar(16) not null constraint "payment_intents_status_known" check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED')),
      "provider" varchar(32) not null,
      "provider_reference" varchar(200) null constraint "payment_intents_provider_reference_unique" unique,
      "checkout_url" text null,
      "idempotency_key" varchar(128) not null,
      "request_hash" char(64) not null,
      "failure_reason" varchar(300) null,
      "deposit_transfer_id" uuid null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      constraint "payment_intents_owner_key_unique" unique ("owner_id", "idempotency_key"),
      constraint "payment_intents_credited_iff_succeeded" check (("status" = 'SUCCEEDED') = ("deposit_transfer_id" is not null))
    )`);
    this.addSql(`create index "payment_intents_owner_created_index" on "wallet"."payment_intents" ("owner_id", "created_at" desc, "id" desc)`);
    this.addSql(`create index "payment_intents_updated_index" on "wallet"."payment_intents" ("updated_at")`);

    this.addSql(`create table "wallet"."withdrawals" (
      "id" uuid primary key,
      "owner_id" uuid not null,
      "account_kind" varchar(32) not null constraint "withdrawals_account_kind_known" check ("account_kind" in ('RIDER_WALLET', 'DRIVER_WALLET')),
      "amount" bigint not null constraint "withdrawals_amount_positive" check ("amount" > 0),
      "currency" char(3) not null,
      "status" varchar(16) not null constraint "withdrawals_status_known" check ("status" in ('REQUESTED', 'PROCESSING', 'PAID', 'FAILED', 'REJECTED')),
      "hold_transfer_id" uuid not null,
      "provider" varchar(32) null,
      "provider_reference" varchar(200) null constraint "withdrawals_provider_reference_unique" unique,
      "idempotency_key" varchar(128) not null,
      "request_hash" char(64) not null,
      "reason" varchar(300) null,
      "decided_by" uuid null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      constraint "withdrawals_owner_key_unique" unique ("owner_id", "idempotency_key")
    )`);
    this.addSql(`create index "withdrawals_owner_created_index" on "wallet"."withdrawals" ("owner_id", "created_at" desc, "id" desc)`);
    this.addSql(`create index "withdrawals_status_created_index" on "wallet"."withdrawals" ("status", "created_at" desc, "id" desc)`);

    this.addSql(`create table "wallet"."payment_provider_events" (
      "id" varchar(200) primary key,
      "provider" varchar(32) not null,
      "type" varchar(100) not null,
      "object_reference" varchar(200) null,
      "amount" bigint null,
      "currency" char(3) null,
      "outcome" varchar(32) not null constraint "payment_provider_events_outcome_known"
        check ("outcome" in ('APPLIED', 'ALREADY_APPLIED', 'IGNORED', 'UNKNOWN_OBJECT', 'MISMATCH')),
      "detail" varchar(300) null,
      "signed_at" timestamptz not null,
      "received_at" timestamptz not null default now()
    )`);
    this.addSql(`create index "payment_provider_events_received_index" on "wallet"."payment_provider_events" ("received_at")`);
    this.addSql(`create index "payment_provider_events_object_index" on "wallet"."payment_provider_events" ("object_reference")`);

    this.addSql(`create table "wallet"."fraud_flags" (
      "id" uuid primary key,
      "owner_id" uuid not null,
      "rule" varchar(40) not null constraint "fraud_flags_rule_known" check ("rule" in ('VELOCITY', 'DEPOSIT_THEN_WITHDRAW', 'FAILED_DEPOSITS')),
      "detail" varchar(300) not null,
      "created_at" timestamptz not null default now(),
      "cleared_at" timestamptz null,
      "cleared_by" uuid null,
      "clear_note" varchar(300) null,
      constraint "fraud_flags_cleared_by_admin" check (("cleared_at" is null) = ("cleared_by" is null))
    )`);
    this.addSql(`create unique index "fraud_flags_one_open_per_rule" on "wallet"."fraud_flags" ("owner_id", "rule") where "cleared_at" is null`);
    this.addSql(`create index "fraud_flags_created_index" on "wallet"."fraud_flags" ("created_at" desc, "id" desc)`);
  }
}

/**
 * Partners are billed afterwards, within a credit limit: a PARTNER account carries the
 * DEBITS_MUST_NOT_EXCEED_CREDITS rule, its debit limit being the credit limit admins set — what the
 * partner owes and has held (posted and pending debits) never passes what it paid in (posted credits)
 * plus the limit. Partner accounts opened before get the rule with a limit of what they already owe.
 */
class PartnerCreditLimits extends Migration {
  override up() {
    this.addSql(`update "wallet"."ledger_accounts" set "balance_rule" = 'DEBITS_MUST_NOT_EXCEED_CREDITS',
      "debit_limit" = greatest("debit_limit", "debits_pending" + "debits_posted" - "credits_posted") where "kind" = 'PARTNER'`);
    this.addSql(`alter table "wallet"."ledger_accounts" add constraint "ledger_accounts_partner_credit_limited"
      check ("kind" <> 'PARTNER' or "balance_rule" = 'DEBITS_MUST_NOT_EXCEED_CREDITS')`);
  }
}

/**
 * One fare hold per trip, however long ago it was made: the database refuses a second pending TRIP_FARE
 * transfer about the same trip. The hold's idempotency key (`trip:<id>:hold`) says the same only while
 * the key is kept (24 h); past that, a booking retried with its old key would otherwise hold the fare
 * again. With this index the wallet can send a trip's hold straight to the ledger and read the trip's
 * transfers only when the ledger did not make a new one (service.ts `holdTripFares`).
 */
class OneFareHoldPerTrip extends Migration {
  override up() {
    this.addSql(`create unique index "ledger_transfers_one_fare_hold_per_trip" on "wallet"."ledger_transfers" ("reference")
      where "kind" = 'PENDING' and "code" = 'TRIP_FARE' and "reference" is not null`);
  }
}

export const migrations: MigrationEntry[] = [
  { name: '0001_wallets_and_payments', class: CreateWalletsAndPayments },
  { name: '0002_ledger', class: CreateLedger },
  { name: '0003_ledger_keys_without_foreign_key', class: LedgerKeysWithoutForeignKey },
  { name: '0004_ledger_user_data_and_receivables', class: LedgerUserDataAndReceivables },
  { name: '0005_drop_seeded_wallets_and_payments', class: DropSeededWalletsAndPayments },
  { name: '0006_payment_intents_withdrawals_and_flags', class: PaymentIntentsWithdrawalsAndFlags },
  { name: '0008_partner_credit_limits', class: PartnerCreditLimits },
  { name: '0010_one_fare_hold_per_trip', class: OneFareHoldPerTrip },
];
