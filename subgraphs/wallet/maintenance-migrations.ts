import { Migration } from '@mikro-orm/migrations';
import type { MigrationEntry } from '../../platform/db.ts';

/** A trip id as the ledger's references carry it (the bookings' key is a uuid column). */
const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/**
 * The trips wallet knows were booked (trip-bookings.ts): one row per TripRequested trips published,
 * written by the wallet's consumer of trips' stream. The orphan-hold reclaim (maintenance.ts) voids a
 * fare hold only when its trip has no row here.
 *
 * Backfill: every trip whose fare is held and unresolved when this runs gets a row with no payment method
 * (booked before the wallet recorded bookings: unknown, so protected). The holds of those trips are never
 * voided by the reclaim; the trips' own settlement, or trips' release, resolves them as before. Holds taken
 * after this migration and before the consumer's first read are covered by the consumer, which reads
 * trips' stream from its start.
 */
class TripBookings extends Migration {
  override up() {
    this.addSql(`create table "wallet"."trip_bookings" (
      "trip_id" uuid primary key,
      -- CASH or WALLET as trips booked it; null for the trips the migration found holding a fare.
      "payment_method" varchar(8) null constraint "trip_bookings_payment_method_known" check ("payment_method" in ('CASH', 'WALLET')),
      -- trips' clock: when the rider booked.
      "requested_at" timestamptz not null,
      -- the wallet's clock: when the consumer recorded it (the reclaim's watermark reads the latest).
      "recorded_at" timestamptz not null
    )`);
    this.addSql(`create index "trip_bookings_recorded_at_index" on "wallet"."trip_bookings" ("recorded_at", "trip_id")`);
    this.addSql(`insert into "wallet"."trip_bookings" ("trip_id", "payment_method", "requested_at", "recorded_at")
      select distinct on (t."reference") t."reference"::uuid, null, t."created_at", date_trunc('milliseconds', now()) from "wallet"."ledger_transfers" as t
      where t."kind" = 'PENDING' and t."code" = 'TRIP_FARE' and t."reference" ~* '${UUID_PATTERN}'
        and not exists (select 1 from "wallet"."ledger_transfers" as r where r."pending_id" = t."id")
      order by t."reference", t."created_at"
      on conflict do nothing`);
  }
}

/**
 * The wallet's maintenance migrations, to be listed in migrations.ts after its own (names are unique and
 * applied in list order; this one needs the ledger's tables).
 */
/** Partners' bookings (PARTNER: the fare held on the partner's account) are recorded like the others. */
class TripBookingsOfPartners extends Migration {
  override up() {
    this.addSql(`alter table "wallet"."trip_bookings" drop constraint "trip_bookings_payment_method_known",
      add constraint "trip_bookings_payment_method_known" check ("payment_method" in ('CASH', 'WALLET', 'PARTNER'))`);
  }
}

export const maintenanceMigrations: MigrationEntry[] = [
  { name: '0007_trip_bookings', class: TripBookings },
  { name: '0009_trip_bookings_partner', class: TripBookingsOfPartners },
];
