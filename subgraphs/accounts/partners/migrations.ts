import { Migration } from '@mikro-orm/migrations';

/**
 * Partner organisations and their API keys. A key's secret is never stored: `key_hash` is the SHA-256
 * of the whole key (platform/api-keys.ts), found by its public `prefix`. A rotated key points at its
 * replacement and ends at `expires_at`; a revoked key has `revoked_at`.
 */
export class CreatePartnersAndApiKeys extends Migration {
  override up() {
    this.addSql(`create table "partners" (
      "id" uuid primary key,
      "name" varchar(100) not null,
      "created_by" uuid null,
      "created_at" timestamptz not null
    )`);
    this.addSql(`create table "api_keys" (
      "id" uuid primary key,
      "partner_id" uuid not null references "partners" ("id") on delete cascade,
      "name" varchar(100) not null,
      "prefix" char(12) not null constraint "api_keys_prefix_unique" unique constraint "api_keys_prefix_hex" check ("prefix" ~ '^[0-9a-f]{12}$'),
      "key_hash" char(64) not null constraint "api_keys_key_hash_hex" check ("key_hash" ~ '^[0-9a-f]{64}$'),
      "operations" text[] not null default '{}',
      "requests_per_minute" integer not null constraint "api_keys_requests_per_minute_range" check ("requests_per_minute" between 1 and 100000),
      "created_by" uuid null,
      "created_at" timestamptz not null,
      "last_used_at" timestamptz null,
      "revoked_at" timestamptz null,
      "expires_at" timestamptz null,
      "replaced_by_id" uuid null references "api_keys" ("id")
    )`);
    this.addSql(`create index "api_keys_partner_id_created_at_index" on "api_keys" ("partner_id", "created_at" desc)`);
  }
}

export const partnersMigration = { name: '0002_partners_and_api_keys', class: CreatePartnersAndApiKeys };
