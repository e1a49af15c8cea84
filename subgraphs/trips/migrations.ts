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

export const migrations: MigrationEntry[] = [{ name: '0001_trips', class: CreateTrips }];
