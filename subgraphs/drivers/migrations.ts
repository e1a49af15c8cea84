import { Migration } from '@mikro-orm/migrations';
import type { MigrationEntry } from '../../platform/db.ts';

/** Constraint names the service maps to CONFLICT errors. */
export const DRIVERS_USER_ID_UNIQUE = 'drivers_user_id_unique';
export const DRIVERS_VEHICLE_PLATE_UNIQUE = 'drivers_vehicle_plate_unique';

class CreateDrivers extends Migration {
  override up() {
    this.addSql(`create table "drivers" (
      "id" uuid primary key,
      "user_id" uuid not null constraint "${DRIVERS_USER_ID_UNIQUE}" unique,
      "vehicle_type" varchar(16) not null check ("vehicle_type" in ('ECONOMY', 'COMFORT', 'PREMIUM', 'XL')),
      "vehicle_make" varchar(40) not null,
      "vehicle_model" varchar(40) not null,
      "vehicle_color" varchar(40) not null,
      "vehicle_plate" varchar(15) not null constraint "${DRIVERS_VEHICLE_PLATE_UNIQUE}" unique,
      "vehicle_year" smallint not null,
      "approval_status" varchar(16) not null check ("approval_status" in ('PENDING', 'APPROVED', 'SUSPENDED')),
      "approved_at" timestamptz null,
      "approved_by" uuid null,
      "rating" numeric(3,2) null check ("rating" between 1 and 5),
      "last_lat" double precision null check ("last_lat" between -90 and 90),
      "last_lng" double precision null check ("last_lng" between -180 and 180),
      "position_at" timestamptz null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    )`);
    // pendingDrivers: oldest first, keyset on (created_at, id).
    this.addSql(`create index "drivers_approval_status_created_at_id_index" on "drivers" ("approval_status", "created_at", "id")`);
  }
}

/**
 * Live locations:
 * - `drivers.suspected_spoofing_at`: the durable copy of the live store's spoofing flag;
 * - `driver_location_history`: every accepted fix, partitioned by day of recorded_at (partitions are
 *   created ahead and dropped after the retention by live/history.ts; the primary key makes a re-sent
 *   point a no-op);
 * - `driver_positions`: embedded mode's live index (no Redis): one row per driver, with the res-9 H3 cell
 *   of the position, searched by cell ranges (live/geo.ts) among AVAILABLE drivers.
 */
class CreateLiveLocations extends Migration {
  override up() {
    this.addSql(`alter table "drivers" add column "suspected_spoofing_at" timestamptz null`);
    this.addSql(`create table "driver_location_history" (
      "driver_id" uuid not null,
      "recorded_at" timestamptz not null,
      "lat" double precision not null check ("lat" between -90 and 90),
      "lng" double precision not null check ("lng" between -180 and 180),
      "heading" real null,
      "speed_kmh" real null,
      "accuracy_m" real null,
      "received_at" timestamptz not null,
      primary key ("driver_id", "recorded_at")
    ) partition by range ("recorded_at")`);
    this.addSql(`create table "driver_positions" (
      "driver_id" uuid primary key,
      "vehicle_type" varchar(16) not null,
      "availability" varchar(16) not null,
      "lat" double precision null,
      "lng" double precision null,
      "h3_cell" bigint null,
      "recorded_at" timestamptz null,
      "updated_at" timestamptz not null
    )`);
    this.addSql(`create index "driver_positions_available_h3_cell_index" on "driver_positions" ("h3_cell") where "availability" = 'AVAILABLE'`);
  }
}

/**
 * Dispatch support (what drivers learns from trips' events, and its own offer counts):
 * - `driver_trips`: one row per trip a driver was matched to, from TripMatched on. While `ended_at` is
 *   null the trip is active: its rider may follow the driver (driverLocation). `started_at`..`ended_at`
 *   is the window of the driver's history that is the trip's route, so rows are kept after the trip
 *   (the route's index). Every trip event upserts the row (events may be applied out of order by
 *   replicas of one consumer group); the times are the trip's own, from the events.
 * - `driver_stats`: per driver, offers received (reserveDriversForOffer) and accepted (TripMatched),
 *   trips completed and trips the driver cancelled: the acceptance and completion rates of dispatch.
 */
class CreateDispatchSupport extends Migration {
  override up() {
    this.addSql(`create table "driver_trips" (
      "trip_id" uuid primary key,
      "driver_id" uuid not null,
      "driver_user_id" uuid not null,
      "rider_id" uuid not null,
      "matched_at" timestamptz null,
      "started_at" timestamptz null,
      "ended_at" timestamptz null,
      "outcome" varchar(16) null check ("outcome" in ('COMPLETED', 'CANCELLED')),
      "updated_at" timestamptz not null
    )`);
    // driverLocation's rider rule: is this rider on an active trip with this driver?
    this.addSql(`create index "driver_trips_active_rider_id_driver_id_index" on "driver_trips" ("rider_id", "driver_id") where "ended_at" is null`);
    this.addSql(`create table "driver_stats" (
      "driver_id" uuid primary key,
      "offers_received" integer not null default 0 check ("offers_received" >= 0),
      "offers_accepted" integer not null default 0 check ("offers_accepted" >= 0),
      "trips_completed" integer not null default 0 check ("trips_completed" >= 0),
      "trips_cancelled_by_driver" integer not null default 0 check ("trips_cancelled_by_driver" >= 0),
      "updated_at" timestamptz not null
    )`);
  }
}

export const migrations: MigrationEntry[] = [
  { name: '0001_drivers', class: CreateDrivers },
  { name: '0002_live_locations', class: CreateLiveLocations },
  { name: '0003_dispatch_support', class: CreateDispatchSupport },
];
