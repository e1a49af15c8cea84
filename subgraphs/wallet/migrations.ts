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

export const migrations: MigrationEntry[] = [{ name: '0001_wallets_and_payments', class: CreateWalletsAndPayments }];
