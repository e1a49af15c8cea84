import type { EntityManager } from '../../platform/db.ts';
import { isUuid } from '../../platform/validation.ts';
import type { VehicleType } from './entities.ts';
import { HISTORY_TABLE } from './live/history.ts';

/**
 * What drivers keeps in Postgres about trips (`driver_trips`) and offers (`driver_stats`); migration
 * 0003 explains both. Plain parameterized SQL: upserts with increments and coalesces say what they do
 * better than a unit of work, and every statement joins the caller's transaction (an event handler's).
 */

const TRIPS = '"drivers"."driver_trips"';
const STATS = '"drivers"."driver_stats"';
const DRIVERS = '"drivers"."drivers"';
const HISTORY = `"drivers"."${HISTORY_TABLE}"`;

/** An array parameter expands to a list (`in (?)`, `array[?]`), as MikroORM binds arrays. */
function sql<T = any>(em: EntityManager, query: string, params: unknown[], method: 'all' | 'run' = 'all'): Promise<T> {
  return em.getConnection().execute(query, params as any[], method, em.getTransactionContext());
}

/**
 * Who is which driver (id, user id, vehicle type) for these driver ids or user ids: the directory's
 * reads. Three columns as plain rows: hydrating Driver entities for them cost drivers' consumer about
 * 0.15 ms per driver on bench:dispatch, when the winners of a burst were read in one go.
 */
export async function driverRefs(em: EntityManager, by: 'id' | 'user_id', keys: readonly string[]): Promise<Array<{ id: string; userId: string; vehicleType: VehicleType }>> {
  const ids = keys.filter(isUuid);
  if (ids.length === 0) return [];
  const rows = await sql(em, `select "id", "user_id", "vehicle_type" from ${DRIVERS} where "${by}" in (?)`, [ids]);
  return rows.map((row: any) => ({ id: row.id, userId: row.user_id, vehicleType: row.vehicle_type }));
}

export interface DriverTripRecord {
  readonly tripId: string;
  readonly driverId: string;
  readonly driverUserId: string;
  readonly riderId: string;
  readonly matchedAt: Date | null;
  readonly startedAt: Date | null;
  readonly endedAt: Date | null;
  readonly outcome: 'COMPLETED' | 'CANCELLED' | null;
}

export interface DriverTripFacts {
  tripId: string;
  driverId: string;
  driverUserId: string;
  riderId: string;
  matchedAt?: Date;
  startedAt?: Date;
  endedAt?: Date;
  outcome?: 'COMPLETED' | 'CANCELLED';
}

const recordOf = (row: any): DriverTripRecord => ({
  tripId: row.trip_id,
  driverId: row.driver_id,
  driverUserId: row.driver_user_id,
  riderId: row.rider_id,
  matchedAt: row.matched_at ? new Date(row.matched_at) : null,
  startedAt: row.started_at ? new Date(row.started_at) : null,
  endedAt: row.ended_at ? new Date(row.ended_at) : null,
  outcome: row.outcome ?? null,
});

const COLUMNS = `"trip_id", "driver_id", "driver_user_id", "rider_id", "matched_at", "started_at", "ended_at", "outcome"`;

/**
 * Adds what one trip event says to the trip's row: a time once set is never changed, so a redelivered
 * or late event (TripMatched applied after TripCompleted by another replica) cannot reopen a trip.
 * Returns the row as it now is.
 */
export async function upsertDriverTrip(em: EntityManager, facts: DriverTripFacts): Promise<DriverTripRecord> {
  return (await upsertDriverTrips(em, [facts])).get(facts.tripId)!;
}

/** `upsertDriverTrip` for several trips (each once) in one statement; the rows by trip id. */
export async function upsertDriverTrips(em: EntityManager, all: readonly DriverTripFacts[]): Promise<Map<string, DriverTripRecord>> {
  if (all.length === 0) return new Map();
  const rows = await sql(
    em,
    `insert into ${TRIPS} (${COLUMNS}, "updated_at") values ${all.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, now())').join(', ')}
     on conflict ("trip_id") do update set
       "matched_at" = coalesce(${TRIPS}."matched_at", excluded."matched_at"),
       "started_at" = coalesce(${TRIPS}."started_at", excluded."started_at"),
       "ended_at" = coalesce(${TRIPS}."ended_at", excluded."ended_at"),
       "outcome" = coalesce(${TRIPS}."outcome", excluded."outcome"),
       "updated_at" = now()
     returning ${COLUMNS}`,
    all.flatMap((facts) => [facts.tripId, facts.driverId, facts.driverUserId, facts.riderId, facts.matchedAt ?? null, facts.startedAt ?? null, facts.endedAt ?? null, facts.outcome ?? null]),
  );
  return new Map(rows.map((row: any) => [row.trip_id as string, recordOf(row)]));
}

/** The trip on which `riderId` is being driven (or picked up) by `driverId` now, if any. */
export async function activeTripBetween(em: EntityManager, riderId: string, driverId: string): Promise<DriverTripRecord | null> {
  if (!isUuid(riderId) || !isUuid(driverId)) return null;
  const [row] = await sql(em, `select ${COLUMNS} from ${TRIPS} where "rider_id" = ? and "driver_id" = ? and "ended_at" is null order by "matched_at" desc nulls last limit 1`, [riderId, driverId]);
  return row ? recordOf(row) : null;
}

/**
 * Every trip a driver is on now (matched, not ended): after Redis lost its data, those drivers are BUSY
 * again. The rows are share-locked until `em`'s transaction ends (call it in one): an event ending one of
 * these trips meanwhile waits for the caller's moves (and then finds its driver BUSY to move on from),
 * and one that ended it first, uncommitted, is waited for and its trip left out.
 */
export async function tripsUnderWay(em: EntityManager): Promise<Array<{ tripId: string; driverId: string }>> {
  const rows = await sql(em, `select "trip_id", "driver_id" from ${TRIPS} where "matched_at" is not null and "ended_at" is null for share`, []);
  return rows.map((row: any) => ({ tripId: row.trip_id, driverId: row.driver_id }));
}

/** Each driver's last trip completed after `since`: their cooldown may still run. */
export async function completionsSince(em: EntityManager, since: Date): Promise<Array<{ driverId: string; endedAt: Date }>> {
  const rows = await sql(em, `select distinct on ("driver_id") "driver_id", "ended_at" from ${TRIPS} where "outcome" = 'COMPLETED' and "ended_at" > ? order by "driver_id", "ended_at" desc`, [since]);
  return rows.map((row: any) => ({ driverId: row.driver_id, endedAt: new Date(row.ended_at) }));
}

export async function driverTripsByIds(em: EntityManager, tripIds: readonly string[]): Promise<DriverTripRecord[]> {
  const ids = tripIds.filter(isUuid);
  if (ids.length === 0) return [];
  const rows = await sql(em, `select ${COLUMNS} from ${TRIPS} where "trip_id" in (?)`, [ids]);
  return rows.map(recordOf);
}

export interface RoutePointRow {
  readonly tripId: string;
  readonly lat: number;
  readonly lng: number;
  readonly heading: number | null;
  readonly speedKmh: number | null;
  readonly recordedAt: Date;
}

/**
 * The route of each trip: its driver's recorded positions from the trip's start to its end (or now,
 * while in progress), oldest first. One statement for any number of trips; a trip not started has none.
 */
export async function routePoints(em: EntityManager, tripIds: readonly string[]): Promise<RoutePointRow[]> {
  const ids = tripIds.filter(isUuid);
  if (ids.length === 0) return [];
  const rows = await sql(
    em,
    `select t."trip_id", h."lat", h."lng", h."heading", h."speed_kmh", h."recorded_at"
       from ${TRIPS} t
       join ${HISTORY} h on h."driver_id" = t."driver_id" and h."recorded_at" >= t."started_at" and h."recorded_at" <= coalesce(t."ended_at", now())
      where t."trip_id" in (?) and t."started_at" is not null
      order by t."trip_id", h."recorded_at"`,
    [ids],
  );
  return rows.map((row: any) => ({
    tripId: row.trip_id,
    lat: Number(row.lat),
    lng: Number(row.lng),
    heading: row.heading === null ? null : Number(row.heading),
    speedKmh: row.speed_kmh === null ? null : Number(row.speed_kmh),
    recordedAt: new Date(row.recorded_at),
  }));
}

export type DriverCounter = 'offers_received' | 'offers_accepted' | 'trips_completed' | 'trips_cancelled_by_driver';

/** Adds one to `counter` of each driver (a driver listed twice counts twice). */
export async function countFor(em: EntityManager, driverIds: readonly string[], counter: DriverCounter): Promise<void> {
  const ids = driverIds.filter(isUuid);
  if (ids.length === 0) return;
  await sql(
    em,
    `insert into ${STATS} ("driver_id", "${counter}", "updated_at")
       select id, count(*), now() from unnest(array[?]::uuid[]) as ids(id) group by id
     on conflict ("driver_id") do update set "${counter}" = ${STATS}."${counter}" + excluded."${counter}", "updated_at" = now()`,
    [ids],
    'run',
  );
}

/** What dispatch scores a driver on, besides where they are. */
export interface DispatchProfile {
  readonly driverId: string;
  readonly userId: string;
  readonly vehicleType: VehicleType;
  readonly approved: boolean;
  /** Null before the first rating. */
  readonly rating: number | null;
  readonly offersReceived: number;
  readonly offersAccepted: number;
  readonly tripsCompleted: number;
  readonly tripsCancelledByDriver: number;
}

export async function dispatchProfiles(em: EntityManager, driverIds: readonly string[]): Promise<Map<string, DispatchProfile>> {
  const ids = driverIds.filter(isUuid);
  if (ids.length === 0) return new Map();
  const rows = await sql(
    em,
    `select d."id", d."user_id", d."vehicle_type", d."approval_status", d."rating",
            coalesce(s."offers_received", 0) as "offers_received", coalesce(s."offers_accepted", 0) as "offers_accepted",
            coalesce(s."trips_completed", 0) as "trips_completed", coalesce(s."trips_cancelled_by_driver", 0) as "trips_cancelled_by_driver"
       from ${DRIVERS} d left join ${STATS} s on s."driver_id" = d."id"
      where d."id" in (?)`,
    [ids],
  );
  return new Map(
    rows.map((row: any) => [
      row.id,
      {
        driverId: row.id,
        userId: row.user_id,
        vehicleType: row.vehicle_type,
        approved: row.approval_status === 'APPROVED',
        rating: row.rating === null ? null : Number(row.rating),
        offersReceived: Number(row.offers_received),
        offersAccepted: Number(row.offers_accepted),
        tripsCompleted: Number(row.trips_completed),
        tripsCancelledByDriver: Number(row.trips_cancelled_by_driver),
      },
    ]),
  );
}
