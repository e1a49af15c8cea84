import { Migration } from '@mikro-orm/migrations';
import type { MigrationEntry } from '../../platform/db.ts';

class CreateTrips extends Migration {
  override up() {
    this.addSql(`create table "trips" (
      "id" uuid primary key,
      "rider_id" uuid not null,
      "driver_id" uuid null,
      "driver_user_id" uuid null,
      "status" varchar(16) not null check ("status" in ('REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
      "vehicle_type" varchar(16) not null check ("vehicle_type" in ('ECONOMY', 'COMFORT', 'PREMIUM', 'XL')),
      "payment_method" varchar(16) not null check ("payment_method" in ('CASH', 'WALLET')),
      "pickup_lat" double precision not null check ("pickup_lat" between -90 and 90),
      "pickup_lng" double precision not null check ("pickup_lng" between -180 and 180),
      "dropoff_lat" double precision not null check ("dropoff_lat" between -90 and 90),
      "dropoff_lng" double precision not null check ("dropoff_lng" between -180 and 180),
      "fare_minor" bigint not null check ("fare_minor" > 0),
      "currency" char(3) not null,
      "distance_m" integer not null check ("distance_m" >= 0),
      "duration_s" integer not null check ("duration_s" >= 0),
      "quote_id" uuid not null,
      "quote_token" text not null,
      "idempotency_key" varchar(128) not null,
      "requested_at" timestamptz not null,
      "updated_at" timestamptz not null,
      constraint "trips_quote_id_unique" unique ("quote_id"),
      constraint "trips_rider_id_idempotency_key_unique" unique ("rider_id", "idempotency_key")
    )`);
    // A rider has at most one active trip, even when two requests race: the second insert fails here.
    this.addSql(`create unique index "trips_one_active_trip_per_rider" on "trips" ("rider_id")
      where "status" in ('REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS')`);
    // Keyset pagination, newest first: a rider's trips and a driver's assigned trips.
    this.addSql(`create index "trips_rider_id_requested_at_id_index" on "trips" ("rider_id", "requested_at" desc, "id" desc)`);
    this.addSql(`create index "trips_driver_user_id_requested_at_id_index" on "trips" ("driver_user_id", "requested_at" desc, "id" desc)
      where "driver_user_id" is not null`);
  }
}

/**
 * Dispatch and the rest of the lifecycle: what the quote said about commission and cancellation, when
 * each transition happened, how a trip was cancelled, where dispatch stands, and the offers made.
 */
class DispatchAndLifecycle extends Migration {
  override up() {
    this.addSql(`alter table "trips"
      add column "commission_bps" integer not null default 0 check ("commission_bps" between 0 and 10000),
      add column "quote_cancellation_fee_minor" bigint not null default 0 check ("quote_cancellation_fee_minor" >= 0),
      add column "assigned_at" timestamptz null,
      add column "arrived_at" timestamptz null,
      add column "started_at" timestamptz null,
      add column "completed_at" timestamptz null,
      add column "cancelled_at" timestamptz null,
      add column "cancelled_by" varchar(8) null check ("cancelled_by" in ('RIDER', 'DRIVER', 'SYSTEM')),
      add column "cancellation_reason" varchar(200) null,
      add column "cancellation_fee_minor" bigint null check ("cancellation_fee_minor" >= 0),
      add column "dispatch_round" integer not null default 0,
      add column "next_dispatch_at" timestamptz null,
      add column "version" integer not null default 0`);
    // A driver holds at most one trip at a time, however many offers they accept at once.
    this.addSql(`create unique index "trips_one_active_trip_per_driver" on "trips" ("driver_id")
      where "status" in ('DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS')`);
    // The dispatcher loop's claim: trips still looking for a driver, by when they are due.
    this.addSql(`create index "trips_dispatch_due_index" on "trips" ("next_dispatch_at")
      where "status" in ('REQUESTED', 'MATCHING')`);
    this.addSql(`create table "trip_offers" (
      "id" uuid primary key,
      "trip_id" uuid not null references "trips" ("id") on delete cascade,
      "driver_id" uuid not null,
      "driver_user_id" uuid not null,
      "round" integer not null check ("round" >= 1),
      "status" varchar(16) not null check ("status" in ('PENDING', 'ACCEPTED', 'DECLINED', 'EXPIRED', 'WITHDRAWN')),
      "pickup_distance_m" integer not null check ("pickup_distance_m" >= 0),
      "score" double precision not null,
      "offered_at" timestamptz not null,
      "expires_at" timestamptz not null,
      "answered_at" timestamptz null,
      "released_at" timestamptz null,
      constraint "trip_offers_trip_id_driver_id_unique" unique ("trip_id", "driver_id")
    )`);
    // A driver's pending offers (tripOffers on reconnect, accept/decline by the signed-in driver).
    this.addSql(`create index "trip_offers_driver_user_id_index" on "trip_offers" ("driver_user_id", "trip_id") where "status" = 'PENDING'`);
    // Answered offers whose driver still waits to be released from OFFERED (the sweeper's work).
    this.addSql(`create index "trip_offers_unreleased_index" on "trip_offers" ("answered_at")
      where "released_at" is null and "status" in ('DECLINED', 'EXPIRED', 'WITHDRAWN')`);
  }
}

/** A round with nobody free to offer keeps looking (every few hundred ms) until its deadline, then widens. */
class RoundDeadline extends Migration {
  override up() {
    this.addSql(`alter table "trips" add column "round_ends_at" timestamptz null`);
  }
}

/**
 * Partner bookings: a partner organisation books for a guest rider and pays from its account. The trip
 * names the partner (`partner_id`, exactly on PARTNER trips); one idempotency key per partner books one
 * trip; a partner's trips are listed newest first.
 */
class PartnerTrips extends Migration {
  override up() {
    this.addSql(`alter table "trips"
      add column "partner_id" uuid null,
      add column "partner_note" varchar(200) null,
      drop constraint if exists "trips_payment_method_check",
      add constraint "trips_payment_method_known" check ("payment_method" in ('CASH', 'WALLET', 'PARTNER')),
      add constraint "trips_partner_iff_partner_payment" check (("payment_method" = 'PARTNER') = ("partner_id" is not null)),
      drop constraint if exists "trips_cancelled_by_check",
      add constraint "trips_cancelled_by_known" check ("cancelled_by" in ('RIDER', 'DRIVER', 'SYSTEM', 'PARTNER'))`);
    this.addSql(`create unique index "trips_partner_id_idempotency_key_unique" on "trips" ("partner_id", "idempotency_key") where "partner_id" is not null`);
    this.addSql(`create index "trips_partner_id_requested_at_id_index" on "trips" ("partner_id", "requested_at" desc, "id" desc) where "partner_id" is not null`);
  }
}

/**
 * Outgoing webhooks (partner-webhooks/): a partner organisation's one endpoint and the deliveries of its
 * trips' status changes to it, one per (partner, event id), claimed by the delivery worker by lease.
 */
class PartnerWebhooks extends Migration {
  override up() {
    this.addSql(`create table "partner_webhooks" (
      "partner_id" uuid primary key,
      "url" varchar(2048) not null,
      "secret" varchar(128) not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now()
    )`);
    this.addSql(`create table "partner_webhook_deliveries" (
      "id" uuid primary key default gen_random_uuid(),
      "seq" bigserial not null,
      "event_id" uuid not null,
      "event_type" varchar(64) not null,
      "partner_id" uuid not null,
      "url" varchar(2048) not null,
      "body" text not null,
      "attempts" integer not null default 0 check ("attempts" >= 0),
      "next_attempt_at" timestamptz not null,
      "status" varchar(16) not null default 'PENDING' check ("status" in ('PENDING', 'DELIVERED', 'DEAD')),
      "last_error" varchar(500) null,
      "last_status_code" integer null,
      "created_at" timestamptz not null default now(),
      "delivered_at" timestamptz null,
      constraint "partner_webhook_deliveries_partner_id_event_id_unique" unique ("partner_id", "event_id"),
      constraint "partner_webhook_deliveries_delivered_at" check (("status" = 'DELIVERED') = ("delivered_at" is not null))
    )`);
    // The worker's claim: due PENDING rows in event order.
    this.addSql(`create index "partner_webhook_deliveries_due_index" on "partner_webhook_deliveries" ("next_attempt_at", "seq") where "status" = 'PENDING'`);
    // Admins' list, newest first by event order (optionally one partner's, optionally one status).
    this.addSql(`create index "partner_webhook_deliveries_seq_index" on "partner_webhook_deliveries" ("seq")`);
    this.addSql(`create index "partner_webhook_deliveries_partner_id_index" on "partner_webhook_deliveries" ("partner_id", "seq")`);
  }
}

export const migrations: MigrationEntry[] = [
  { name: '0001_trips', class: CreateTrips },
  { name: '0002_dispatch', class: DispatchAndLifecycle },
  { name: '0003_round_deadline', class: RoundDeadline },
  { name: '0004_partner_trips', class: PartnerTrips },
  { name: '0005_partner_webhooks', class: PartnerWebhooks },
];
