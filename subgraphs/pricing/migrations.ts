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

/** Launch cancellation fees (EGP minor units), charged by trips when a rider cancels late. */
const LAUNCH_CANCELLATION_FEES = { ECONOMY: 1000, COMFORT: 1500, PREMIUM: 2500, XL: 2000 } as const;

/**
 * The launch time-of-day multipliers, Cairo local time. A window starts on the listed days; one whose
 * end is at or before its start runs past midnight into the next day. When several match, the highest
 * applies (Friday night, 21:00–03:00, beats late night, 23:00–05:00, until 03:00).
 */
export const LAUNCH_TIME_OF_DAY = [
  ['7d2e3b20-0000-4000-8000-000000000001', 'morning-rush', 'SUN MON TUE WED THU', '07:00', '10:00', '1.20'],
  ['7d2e3b20-0000-4000-8000-000000000002', 'evening-rush', 'SUN MON TUE WED THU', '16:00', '20:00', '1.30'],
  ['7d2e3b20-0000-4000-8000-000000000003', 'late-night', 'SUN MON TUE WED THU FRI SAT', '23:00', '05:00', '1.10'],
  ['7d2e3b20-0000-4000-8000-000000000004', 'friday-night', 'FRI', '21:00', '03:00', '1.40'],
] as const;

const WEEKDAY_LIST = `^(SUN|MON|TUE|WED|THU|FRI|SAT)( (SUN|MON|TUE|WED|THU|FRI|SAT))*$`;

/**
 * Issue 4: cancellation fees, time-of-day multipliers, the full quote breakdown and what trips needs
 * from a quote (commission, cancellation fee, pickup cell), booked quotes, and surge state.
 */
class SurgeTimeOfDayAndCancellationFees extends Migration {
  override up() {
    this.addSql(`alter table "fare_rules" add column "cancellation_fee_minor" bigint not null default 0 check ("cancellation_fee_minor" >= 0)`);
    const fees = LAUNCH_FARE_RULES.map(([id, type]) => `when '${id}' then ${LAUNCH_CANCELLATION_FEES[type]}`).join(' ');
    this.addSql(`update "fare_rules" set "cancellation_fee_minor" = case "id"::text ${fees} else 0 end`);
    this.addSql(`alter table "fare_rules" alter column "cancellation_fee_minor" drop default`);

    this.addSql(`create table "time_of_day_multipliers" (
      "id" uuid primary key,
      "name" varchar(64) not null,
      "days" varchar(32) not null check ("days" ~ '${WEEKDAY_LIST}'),
      "starts_at" time(0) not null,
      "ends_at" time(0) not null check ("ends_at" <> "starts_at"),
      "multiplier" numeric(4,2) not null check ("multiplier" between 1 and 5),
      "effective_from" timestamptz not null,
      "created_at" timestamptz not null default now(),
      unique ("name", "effective_from")
    )`);
    const windows = LAUNCH_TIME_OF_DAY.map(([id, name, days, start, end, multiplier]) => `('${id}', '${name}', '${days}', '${start}', '${end}', ${multiplier}, '${LAUNCH_EFFECTIVE_FROM}')`);
    this.addSql(`insert into "time_of_day_multipliers" ("id", "name", "days", "starts_at", "ends_at", "multiplier", "effective_from") values ${windows.join(', ')}`);

    this.addSql(`alter table "quotes"
      add column "minimum_top_up_minor" bigint not null default 0 check ("minimum_top_up_minor" >= 0),
      add column "time_of_day_minor" bigint not null default 0 check ("time_of_day_minor" >= 0),
      add column "surge_minor" bigint not null default 0 check ("surge_minor" >= 0),
      add column "rounding_minor" bigint not null default 0,
      add column "time_of_day_multiplier" numeric(4,2) not null default 1 check ("time_of_day_multiplier" >= 1),
      add column "cancellation_fee_minor" bigint not null default 0 check ("cancellation_fee_minor" >= 0),
      add column "commission_bps" integer not null default 0 check ("commission_bps" between 0 and 10000),
      add column "h3_cell" varchar(16) null,
      add column "trip_id" uuid null,
      add column "booked_at" timestamptz null`);
    // Quotes issued before this release: the launch commission and fee of their vehicle type.
    this.addSql(`update "quotes" q set "commission_bps" = r."commission_bps", "cancellation_fee_minor" = r."cancellation_fee_minor"
      from "fare_rules" r where r."id"::text in (${LAUNCH_FARE_RULES.map(([id]) => `'${id}'`).join(', ')}) and r."vehicle_type" = q."vehicle_type"`);
    this.addSql(`create unique index "quotes_trip_id_unique" on "quotes" ("trip_id") where "trip_id" is not null`);

    // Trip requests of the last minutes by the res-8 cell of their pickup (surge demand).
    this.addSql(`create table "surge_demand" (
      "trip_id" uuid primary key,
      "h3_cell" varchar(16) not null,
      "requested_at" timestamptz not null
    )`);
    this.addSql(`create index "surge_demand_requested_at_index" on "surge_demand" ("requested_at")`);
    // Drivers' supply snapshots as received: available drivers per res-8 cell.
    this.addSql(`create table "surge_supply" (
      "taken_at" timestamptz primary key,
      "resolution" smallint not null,
      "cells" jsonb not null,
      "received_at" timestamptz not null default now()
    )`);
    // When surge was last recomputed (one row): replicas skip a tick another one already ran.
    this.addSql(`create table "surge_runs" ("id" smallint primary key check ("id" = 1), "ran_at" timestamptz not null)`);
    // The surge of every cell with something going on; a cell without a row is at 1.00.
    this.addSql(`create table "surge_cells" (
      "h3_cell" varchar(16) primary key,
      "multiplier" numeric(4,2) not null check ("multiplier" between 1 and 3),
      "target" numeric(4,2) not null check ("target" between 1 and 3),
      "demand" integer not null check ("demand" >= 0),
      "supply" integer null check ("supply" >= 0),
      "changed_at" timestamptz not null,
      "raised_at" timestamptz null,
      "computed_at" timestamptz not null
    )`);
  }
}

export const migrations: MigrationEntry[] = [
  { name: '0001_fare_rules_and_quotes', class: CreateFareRulesAndQuotes },
  { name: '0002_surge_time_of_day_and_cancellation_fees', class: SurgeTimeOfDayAndCancellationFees },
];
