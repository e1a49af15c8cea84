import { Migration } from '@mikro-orm/migrations';
import type { MigrationEntry } from '../../platform/db.ts';
import { partnersMigration } from './partners/migrations.ts';

class CreateUsersAndRefreshTokens extends Migration {
  override up() {
    this.addSql(`create table "users" (
      "id" uuid primary key,
      "phone" varchar(16) not null unique,
      "name" varchar(100) not null,
      "role" varchar(16) not null check ("role" in ('RIDER', 'DRIVER', 'ADMIN', 'PARTNER')),
      "password_hash" text not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    )`);
    this.addSql(`create table "refresh_tokens" (
      "id" uuid primary key,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "family_id" uuid not null,
      "token_hash" varchar(64) not null unique,
      "expires_at" timestamptz not null,
      "rotated_at" timestamptz null,
      "revoked_at" timestamptz null,
      "created_at" timestamptz not null
    )`);
    this.addSql(`create index "refresh_tokens_family_id_index" on "refresh_tokens" ("family_id")`);
    this.addSql(`create index "refresh_tokens_user_id_index" on "refresh_tokens" ("user_id")`);
  }
}

export const migrations: MigrationEntry[] = [{ name: '0001_users_and_refresh_tokens', class: CreateUsersAndRefreshTokens }, partnersMigration];
