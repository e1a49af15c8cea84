import { Migration } from '@mikro-orm/migrations';
import type { MigrationEntry } from '../../platform/db.ts';

/** The launch price lists (EGP, minor units): base, per km, per minute, minimum, booking fee, commission bps. */
const LAUNCH_FARE_RULES = [
  ['6f1c2a10-0000-4000-8000-000000000001', 'ECONOMY', 1000, 350, 50, 1500, 0, 1500],
  ['6f1c2a10-0000-4000-8000-000000000002', 'COMFORT', 1500, 500, 75, 2500, 0, 1800],
  ['6f1c2a10-0000-4000-8000-000000000003', 'PREMIUM', 2500, 800, 100, 4000, 0, 2000],
  ['6f1c2a10-0000-4000-8000-000000000004', 'XL', 2000, 600, 80, 3500, 0, 1700],
] as const;
const LAUNCH_EFFECTIVE_FROM = '2025-01-01T00:00:00Z';

class CreateFareRulesAndQuotes extends Migration {
  override up() {
    this.addSql(`create table "fare_rules" (
      "id" uuid primary key,
      "vehicle_type" varchar(16) not null check ("vehicle_type" in ('ECONOMY', 'COMFORT', 'PREMIUM', 'XL')),
      "currency" varchar(3) not null,
      "base_minor" bigint not null check ("base_minor" >= 0),
      "per_km_minor" bigint not null check ("per_km_minor" >= 0),
      "per_min_minor" bigint not null check ("per_min_minor" >= 0),
      "minimum_minor" bigint not null check ("minimum_minor" >= 0),
      "booking_fee_minor" bigint not null check ("booking_fee_minor" >= 0),
      "commission_bps" integer not null check ("commission_bps" between 0 and 10000),
      "effective_from" timestamptz not null,
      "created_at" timestamptz not null default now(),
      unique ("vehicle_type", "effective_from")
    )`);
    const values = LAUNCH_FARE_RULES.map(
      ([id, type, base, perKm, perMin, minimum, bookingFee, commission]) =>
        `('${id}', '${type}', 'EGP', ${base}, ${perKm}, ${perMin}, ${minimum}, ${bookingFee}, ${commission}, '${LAUNCH_EFFECTIVE_FROM}')`,
    );
    this.addSql(`insert into "fare_rules" ("id", "vehicle_type", "currency", "base_minor", "per_km_minor", "per_min_minor", "minimum_minor", "booking_fee_minor", "commission_bps", "effective_from") values ${values.join(', ')}`);

    this.addSql(`create table "quotes" (
      "id" uuid primary key,
      "rider_id" uuid not null,
      "vehicle_type" varchar(16) not null check ("vehicle_type" in ('ECONOMY', 'COMFORT', 'PREMIUM', 'XL')),
      "pickup_lat" double precision not null check ("pickup_lat" between -90 and 90),
      "pickup_lng" double precision not null check ("pickup_lng" between -180 and 180),
      "dropoff_lat" double precision not null check ("dropoff_lat" between -90 and 90),
      "dropoff_lng" double precision not null check ("dropoff_lng" between -180 and 180),
      "distance_m" integer not null check ("distance_m" >= 0),
      "duration_s" integer not null check ("duration_s" >= 0),
      "base_fare_minor" bigint not null check ("base_fare_minor" >= 0),
      "distance_fare_minor" bigint not null check ("distance_fare_minor" >= 0),
      "time_fare_minor" bigint not null check ("time_fare_minor" >= 0),
      "booking_fee_minor" bigint not null check ("booking_fee_minor" >= 0),
      "fare_minor" bigint not null check ("fare_minor" >= 0),
      "currency" varchar(3) not null,
      "surge_multiplier" numeric(4,2) not null check ("surge_multiplier" >= 1),
      "fare_rule_id" uuid null references "fare_rules" ("id"),
      "expires_at" timestamptz not null,
      "created_at" timestamptz not null
    )`);
    this.addSql(`create index "quotes_rider_id_index" on "quotes" ("rider_id")`);
  }
}

export const migrations: MigrationEntry[] = [{ name: '0001_fare_rules_and_quotes', class: CreateFareRulesAndQuotes }];
