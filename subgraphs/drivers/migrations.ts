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

export const migrations: MigrationEntry[] = [{ name: '0001_drivers', class: CreateDrivers }];
