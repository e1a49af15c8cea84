/**
 * The trips the wallet knows exist: trips writes a trip and its TripRequested event in one statement (the
 * trip's insert and the outbox row commit together, subgraphs/trips/service.ts requestTrip), so a trip
 * exists exactly when its TripRequested was published. This consumer records each one, durably, in
 * `wallet.trip_bookings` (maintenance-migrations.ts); the orphan-hold reclaim (maintenance.ts) voids a fare
 * hold only when its trip has no row here and the consumer has demonstrably read past the hold's time.
 *
 * Why a consumer and not a service call asking trips: trips' events are the one record written in the
 * same statement as the trip, so the answer needs no new API on trips, no trips replica up at reclaim time,
 * and no call from the wallet back to trips (which calls the wallet at booking). Events arrive late,
 * though, so the reclaim never reads "no row" as "no trip" alone: see `watermark`.
 */
import { arrayLiteral, executeStatement, type EntityManager } from '../../platform/db.ts';
import { TripRequested } from '../../platform/events/contracts/index.ts';
import type { EventOf } from '../../platform/events/index.ts';
import type { SubgraphRuntime } from '../../platform/subgraph.ts';
import { isUuid } from '../../platform/validation.ts';
import { statementsOf, type RunStatement } from './ledger/sql-session.ts';

/** The consumer group wallet reads trips' TripRequested with (its parked events live in dead_events under this name). */
export const TRIP_BOOKINGS_CONSUMER = 'trip-bookings';

const BOOKINGS = '"wallet"."trip_bookings"';
const DEAD_EVENTS = '"wallet"."dead_events"';

export type TripRequestedEvent = EventOf<typeof TripRequested>;

/** One booking as recorded: CASH, WALLET or PARTNER as booked; null for one the migration found holding a fare. */
export interface TripBooking {
  tripId: string;
  paymentMethod: 'CASH' | 'WALLET' | 'PARTNER' | null;
  requestedAt: Date;
  recordedAt: Date;
}

/**
 * Records every TripRequested of trips' stream: one insert for a whole read, in the consumer's transaction
 * with its processed-event record. A trip recorded before (a duplicate event) keeps its first row.
 * `now` stamps `recorded_at` (tests move it).
 */
export function consumeTripBookings(runtime: Pick<SubgraphRuntime, 'events'>, options: { now?: () => Date } = {}) {
  const now = options.now ?? (() => new Date());
  const record = (events: TripRequestedEvent[], em: EntityManager) => recordTripBookings(em, events, now());
  runtime.events.consume({
    name: TRIP_BOOKINGS_CONSUMER,
    source: 'trips',
    contracts: [TripRequested],
    handle: (event, em) => record([event], em),
    handleMany: record,
    // No hurry: the reclaim trusts only bookings recorded `bookingConfirmationMs` (2 min) ago and judges
    // holds a grace period (10 min) old, so a second's delay changes no decision; a burst of bookings is
    // recorded in a read or two (one transaction each) instead of one per small read inside the burst.
    lingerMs: 1_000,
  });
}

/** Inserts the events' bookings through `em` (inside the caller's transaction). */
export async function recordTripBookings(em: EntityManager, events: readonly TripRequestedEvent[], recordedAt: Date): Promise<void> {
  if (events.length === 0) return;
  // A trip twice in one read keeps its first booking, as `handle` on each in turn would.
  const first = new Map<string, TripRequestedEvent['data']>();
  for (const event of events) if (!first.has(event.data.tripId.toLowerCase())) first.set(event.data.tripId.toLowerCase(), event.data);
  const bookings = [...first.values()];
  await executeStatement(
    em,
    `insert into ${BOOKINGS} ("trip_id", "payment_method", "requested_at", "recorded_at")
     select b."trip_id", b."payment_method", b."requested_at", ? from unnest(?::uuid[], ?::text[], ?::timestamptz[]) as b("trip_id", "payment_method", "requested_at")
     order by b."trip_id"
     on conflict ("trip_id") do nothing`,
    [recordedAt.toISOString(), arrayLiteral(bookings.map((b) => b.tripId)), arrayLiteral(bookings.map((b) => b.paymentMethod)), arrayLiteral(bookings.map((b) => b.requestedAt))],
  );
}

/** The statements the maintenance reads and prunes bookings with. */
export class TripBookings {
  /** Statements on their own, outside any transaction (`statementsOf`). */
  readonly #run: RunStatement;

  constructor(db: { fork(): EntityManager }) {
    this.#run = statementsOf(db);
  }

  /** The bookings of these trips (ids that are not uuids are simply not found). */
  async of(tripIds: readonly string[]): Promise<Map<string, TripBooking>> {
    const ids = tripIds.filter(isUuid);
    if (ids.length === 0) return new Map();
    const rows = await this.#run(`select "trip_id", "payment_method", "requested_at", "recorded_at" from ${BOOKINGS} where "trip_id" = any(?::uuid[])`, [arrayLiteral(ids)]);
    return new Map(
      rows.map((row) => [
        row.trip_id as string,
        { tripId: row.trip_id as string, paymentMethod: (row.payment_method as TripBooking['paymentMethod']) ?? null, requestedAt: new Date(row.requested_at as string), recordedAt: new Date(row.recorded_at as string) },
      ]),
    );
  }

  /**
   * How far the consumer has demonstrably read trips' stream: the latest booking time (trips' clock) among
   * the last `sample` bookings recorded no later than `recordedBy`; null when none was.
   *
   * Trips' relay publishes the committed outbox rows in `seq` order, one relay at a time, and a booking's
   * statement draws its row's seq and commits within its request, long before the grace period ends. So a
   * booking requested at W, once recorded, shows that every trip inserted before W - grace was published
   * no later than it, and delivered to this consumer no later than it. Recorded long enough ago (`recordedBy`: now minus the
   * confirmation delay), any such delivery has also been applied, retried or parked by then. Any one row is
   * a valid witness, so reading only the latest rows can only make the answer older (safer), never wrong.
   * While trips, its relay, Redis or this consumer is stuck, no booking is recorded and the watermark
   * stands still: the reclaim then voids nothing.
   */
  async watermark(recordedBy: Date, sample = 1_000): Promise<Date | null> {
    const [row] = await this.#run(
      `select max(s."requested_at") as "at" from (select "requested_at" from ${BOOKINGS} where "recorded_at" <= ? order by "recorded_at" desc limit ?) as s`,
      [recordedBy.toISOString(), sample],
    );
    return row?.at ? new Date(row.at as string) : null;
  }

  /** Trips whose TripRequested this consumer parked in dead_events (their existence is unknown: their holds are kept). */
  async parkedTripIds(): Promise<Set<string>> {
    const rows = await this.#run(`select "event" from ${DEAD_EVENTS} where "consumer" = ?`, [TRIP_BOOKINGS_CONSUMER]);
    const ids = new Set<string>();
    for (const row of rows) {
      // Parked because unreadable or breaking the contract: any uuid it names may be the trip's.
      for (const match of String(row.event).matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi)) ids.add(match[0].toLowerCase());
    }
    return ids;
  }

  /** Bookings recorded before `before`, after the keyset `after` in (recorded_at, trip_id) order: the pruning's candidates. */
  async recordedBefore(before: Date, after: { recordedAt: Date; tripId: string } | null, limit: number): Promise<TripBooking[]> {
    const rows = await this.#run(
      `select "trip_id", "payment_method", "requested_at", "recorded_at" from ${BOOKINGS}
       where "recorded_at" < ? and ("recorded_at", "trip_id") > (?::timestamptz, ?::uuid) order by "recorded_at", "trip_id" limit ?`,
      [before.toISOString(), (after?.recordedAt ?? new Date(0)).toISOString(), after?.tripId ?? '00000000-0000-0000-0000-000000000000', limit],
    );
    return rows.map((row) => ({
      tripId: row.trip_id as string,
      paymentMethod: (row.payment_method as TripBooking['paymentMethod']) ?? null,
      requestedAt: new Date(row.requested_at as string),
      recordedAt: new Date(row.recorded_at as string),
    }));
  }

  async delete(tripIds: readonly string[]): Promise<number> {
    if (tripIds.length === 0) return 0;
    const rows = await this.#run(`delete from ${BOOKINGS} where "trip_id" = any(?::uuid[]) returning 1 as "deleted"`, [arrayLiteral(tripIds)]);
    return rows.length;
  }
}
