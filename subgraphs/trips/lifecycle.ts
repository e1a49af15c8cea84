import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import type { AnyEventContract, NewEvent } from '../../platform/events/index.ts';
import { conflict, forbidden, notFound } from '../../platform/errors.ts';
import { parseInput } from '../../platform/validation.ts';
import type { DriverReleases } from './dispatch/releases.ts';
import { DISPATCHING_STATUSES, type CancelledBy, type Trip, type TripStatus } from './entities.ts';
import { matchedEvent, tripEvents, type EventRecorder } from './events.ts';
import { ENDED_OFFER_COLUMNS, type EndedOfferRow, type TripNotifier } from './live.ts';
import { inList, OFFERS, query, TRIPS, tripFromRow, type Row } from './rows.ts';
import { cancelTripSchema, tripIdArgsSchema } from './validation.ts';

/** Where a rider may still cancel: anything before the ride starts. */
export const RIDER_CANCELLABLE = ['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED'] as const satisfies readonly TripStatus[];
/** Where the assigned driver may cancel: assigned, before the ride starts. */
export const DRIVER_CANCELLABLE = ['DRIVER_ASSIGNED', 'DRIVER_ARRIVED'] as const satisfies readonly TripStatus[];

/** The driver's own steps: from one status to the next, stamping one time column, with the event (if any) it records. */
const DRIVER_STEPS = {
  markArrived: { from: 'DRIVER_ASSIGNED', to: 'DRIVER_ARRIVED', at: 'arrived_at', event: tripEvents.arrived },
  startTrip: { from: 'DRIVER_ARRIVED', to: 'IN_PROGRESS', at: 'started_at', event: tripEvents.started },
  completeTrip: { from: 'IN_PROGRESS', to: 'COMPLETED', at: 'completed_at', event: tripEvents.completed },
} as const satisfies Record<string, { from: TripStatus; to: TripStatus; at: string; event: ((trip: Trip) => NewEvent<AnyEventContract>) | undefined }>;
export type DriverStep = keyof typeof DRIVER_STEPS;

export interface TripLifecycleOptions {
  events: EventRecorder;
  notifier: TripNotifier;
  releases: DriverReleases;
  /** After assignment, how long a rider may cancel at no charge. */
  cancellationGraceMs: number;
  /** Every offer of a round was answered: start the next round now rather than at the timeout. */
  onRoundAnswered(tripId: string): void;
  now?: () => Date;
}

/**
 * Every transition after booking, each one conditional UPDATE (`… where status = <expected> returning *`)
 * in a transaction with its outbox event: whoever's statement commits first wins, the others match no
 * row and get CONFLICT with the status they lost to. When nothing matched, `#refuse` explains why in
 * order: NOT_FOUND (no such trip), FORBIDDEN (not your trip/offer), CONFLICT (wrong status).
 */
export class TripLifecycle {
  readonly #options: TripLifecycleOptions;
  readonly #now: () => Date;

  constructor(options: TripLifecycleOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * The first driver to accept wins; a driver already on a trip cannot take a second one. One statement
   * (its own transaction): the trip moves, the driver's offer is accepted, the others are withdrawn and
   * TripMatched is written, or nothing is. Every transition locks the trip row before any offer row
   * (here the offer updates wait for the trip's), so accepts, declines and cancels of one trip queue on
   * the trip and never deadlock on each other.
   */
  async acceptOffer(em: EntityManager, principal: Principal, args: unknown): Promise<Trip> {
    const { tripId } = parseInput(tripIdArgsSchema, args);
    const now = this.#now();
    const event = this.#options.events.outboxInsertSelect(matchedEvent('"assigned"', now));
    let result: (Row & { withdrawn: EndedOfferRow[] }) | undefined;
    try {
      [result] = await query<Row & { withdrawn: EndedOfferRow[] }>(
        em,
        `with "assigned" as (
           update ${TRIPS} t set "status" = 'DRIVER_ASSIGNED', "driver_id" = o."driver_id", "driver_user_id" = o."driver_user_id", "assigned_at" = ?,
             "next_dispatch_at" = null, "version" = t."version" + 1, "updated_at" = ?
           from ${OFFERS} o
           where t."id" = ? and t."status" in ${inList(DISPATCHING_STATUSES)}
             and o."trip_id" = t."id" and o."driver_user_id" = ? and o."status" = 'PENDING' and o."expires_at" > ?
           returning t.*
         ), "accepted" as (
           update ${OFFERS} set "status" = 'ACCEPTED', "answered_at" = ?
           where "trip_id" = ? and "driver_user_id" = ? and "status" = 'PENDING' and exists (select 1 from "assigned")
         ), "others" as (
           update ${OFFERS} set "status" = 'WITHDRAWN', "answered_at" = ?, "released_at" = ?
           where "trip_id" = ? and "driver_user_id" <> ? and "status" = 'PENDING' and exists (select 1 from "assigned")
           returning ${ENDED_OFFER_COLUMNS}
         ), "event" as (${event.sql})
         select a.*, (select coalesce(json_agg(o), '[]'::json) from "others" o) as "withdrawn" from "assigned" a`,
        [now, now, tripId, principal.userId, now, now, tripId, principal.userId, now, now, tripId, principal.userId, ...event.params],
      );
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw conflict('You are already on another trip.', { reason: 'DRIVER_BUSY' });
      throw error;
    }
    if (!result) throw await this.#refuseOffer(em, tripId, principal, now);
    // drivers releases the other offered drivers itself on TripMatched: nothing left to release here.
    event.committed();
    const { withdrawn: taken, ...row } = result;
    await this.#options.notifier.tripChanged(row);
    await this.#options.notifier.offersEnded(row, taken, 'TAKEN');
    return tripFromRow(em, row);
  }

  /**
   * The driver passes; they are never offered this trip again. The last answer of a round starts the
   * next one at once. Declines of one trip queue on the trip row, so the last of two simultaneous
   * declines sees the other and knows the round is over.
   */
  async declineOffer(em: EntityManager, principal: Principal, args: unknown): Promise<boolean> {
    const { tripId } = parseInput(tripIdArgsSchema, args);
    const now = this.#now();
    const { trip, offer, roundOver } = await em.transactional(async (tx) => {
      const [locked] = await query(tx, `select * from ${TRIPS} where "id" = ? for update`, [tripId]);
      const [declined] = await query<EndedOfferRow>(
        tx,
        `update ${OFFERS} set "status" = 'DECLINED', "answered_at" = ? where "trip_id" = ? and "driver_user_id" = ? and "status" = 'PENDING' and "expires_at" > ? returning ${ENDED_OFFER_COLUMNS}`,
        [now, tripId, principal.userId, now],
      );
      if (!declined || !locked) throw await this.#refuseOffer(tx, tripId, principal, now);
      const advanced = await query(
        tx,
        `update ${TRIPS} set "next_dispatch_at" = ? where "id" = ? and "status" = 'MATCHING'
           and not exists (select 1 from ${OFFERS} where "trip_id" = ? and "status" = 'PENDING') returning "id"`,
        [now, tripId, tripId],
      );
      return { trip: locked, offer: declined, roundOver: advanced.length > 0 };
    });
    // The driver's other devices (and a stream that outlives the mutation's screen) drop the offer too.
    await this.#options.notifier.offersEnded(trip, [offer], 'DECLINED');
    await this.#options.releases.release(tripId, [offer.driver_id]);
    if (roundOver) this.#options.onRoundAnswered(tripId);
    return true;
  }

  /** markArrived, startTrip, completeTrip: only the assigned driver, only from the step before. */
  async driverStep(em: EntityManager, principal: Principal, step: DriverStep, args: unknown): Promise<Trip> {
    const { tripId } = parseInput(tripIdArgsSchema, args);
    const { from, to, at, event } = DRIVER_STEPS[step];
    const now = this.#now();
    const row = await em.transactional(async (tx) => {
      const [moved] = await query(
        tx,
        `update ${TRIPS} set "status" = '${to}', "${at}" = ?, "version" = "version" + 1, "updated_at" = ?
           where "id" = ? and "driver_user_id" = ? and "status" = '${from}' returning *`,
        [now, now, tripId, principal.userId],
      );
      if (!moved) throw await this.#refuse(tx, tripId, (trip) => trip.driver_user_id === principal.userId);
      if (event) this.#options.events.record<AnyEventContract>(tx, event(tripFromRow(tx, moved)));
      return moved;
    });
    await this.#options.notifier.tripChanged(row);
    return tripFromRow(em, row);
  }

  /**
   * The rider, before the ride starts; the assigned driver, once assigned and before it starts. A rider
   * pays the quote's cancellation fee only when a driver was assigned more than the grace period ago;
   * the fee is computed in the same statement that cancels, from the row as it is then.
   */
  async cancel(em: EntityManager, principal: Principal, args: unknown): Promise<Trip> {
    const { tripId, reason } = parseInput(cancelTripSchema, args);
    const byRider = principal.role === 'RIDER';
    const graceEnds = new Date(this.#now().getTime() - this.#options.cancellationGraceMs);
    return this.#cancelWhere(em, tripId, {
      by: byRider ? 'RIDER' : 'DRIVER',
      reason,
      condition: byRider ? `"rider_id" = ? and "status" in ${inList(RIDER_CANCELLABLE)}` : `"driver_user_id" = ? and "status" in ${inList(DRIVER_CANCELLABLE)}`,
      params: [principal.userId],
      feeSql: byRider ? `case when "assigned_at" is not null and "assigned_at" < ? then "quote_cancellation_fee_minor" else 0 end` : '0',
      feeParams: byRider ? [graceEnds] : [],
      isParty: (trip) => (byRider ? trip.rider_id === principal.userId : trip.driver_user_id === principal.userId),
    });
  }

  /**
   * The partner organisation that booked the trip for its guest cancels it, as the rider could: before
   * the ride starts, the quote's fee owed when a driver was assigned more than the grace period ago
   * (paid from the partner's account). `cancellation.by` is PARTNER.
   */
  async cancelForPartner(em: EntityManager, principal: Principal, args: unknown): Promise<Trip> {
    const { tripId, reason } = parseInput(cancelTripSchema, args);
    const graceEnds = new Date(this.#now().getTime() - this.#options.cancellationGraceMs);
    return this.#cancelWhere(em, tripId, {
      by: 'PARTNER',
      reason,
      condition: `"partner_id" = ? and "status" in ${inList(RIDER_CANCELLABLE)}`,
      params: [principal.userId],
      feeSql: `case when "assigned_at" is not null and "assigned_at" < ? then "quote_cancellation_fee_minor" else 0 end`,
      feeParams: [graceEnds],
      isParty: (trip) => trip.partner_id === principal.userId,
    });
  }

  /** Dispatch gave up (no driver accepted in any round): SYSTEM cancels, no fee. Null when the trip moved on meanwhile. */
  async cancelUnmatched(em: EntityManager, tripId: string, round: number, reason: string): Promise<Trip | null> {
    try {
      return await this.#cancelWhere(em, tripId, {
        by: 'SYSTEM',
        reason,
        condition: `"status" in ${inList(DISPATCHING_STATUSES)} and "dispatch_round" = ?`,
        params: [round],
        feeSql: '0',
        feeParams: [],
        isParty: () => true,
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'CONFLICT') return null;
      throw error;
    }
  }

  async #cancelWhere(
    em: EntityManager,
    tripId: string,
    spec: { by: CancelledBy; reason: string; condition: string; params: unknown[]; feeSql: string; feeParams: unknown[]; isParty: (trip: Row) => boolean },
  ): Promise<Trip> {
    const now = this.#now();
    const { row, withdrawn } = await em.transactional(async (tx) => {
      const [cancelled] = await query(
        tx,
        `update ${TRIPS} set "status" = 'CANCELLED', "cancelled_at" = ?, "cancelled_by" = ?, "cancellation_reason" = ?, "cancellation_fee_minor" = ${spec.feeSql},
           "next_dispatch_at" = null, "version" = "version" + 1, "updated_at" = ? where "id" = ? and ${spec.condition} returning *`,
        [now, spec.by, spec.reason, ...spec.feeParams, now, tripId, ...spec.params],
      );
      if (!cancelled) throw await this.#refuse(tx, tripId, spec.isParty);
      const withdrawn = await query<EndedOfferRow>(tx, `update ${OFFERS} set "status" = 'WITHDRAWN', "answered_at" = ? where "trip_id" = ? and "status" = 'PENDING' returning ${ENDED_OFFER_COLUMNS}`, [now, tripId]);
      this.#options.events.record(tx, tripEvents.cancelled(tripFromRow(tx, cancelled)));
      return { row: cancelled, withdrawn };
    });
    await this.#options.notifier.tripChanged(row);
    await this.#options.notifier.offersEnded(row, withdrawn, 'CANCELLED');
    await this.#options.releases.release(tripId, withdrawn.map((offer) => offer.driver_id));
    return tripFromRow(em, row);
  }

  /** Why a conditional update matched nothing, as the error to throw (read in the same transaction, after the race). */
  async #refuse(tx: EntityManager, tripId: string, isParty: (trip: Row) => boolean): Promise<Error> {
    const [trip] = await query(tx, `select "status", "rider_id", "driver_user_id", "partner_id" from ${TRIPS} where "id" = ?`, [tripId]);
    if (!trip) return notFound('Trip');
    if (!isParty(trip)) return forbidden('This is not your trip.');
    return conflict(`The trip is ${trip.status as string}: this is not possible now.`, { status: trip.status });
  }

  async #refuseOffer(tx: EntityManager, tripId: string, principal: Principal, now: Date): Promise<Error> {
    const [trip] = await query(tx, `select "status" from ${TRIPS} where "id" = ?`, [tripId]);
    if (!trip) return notFound('Trip');
    const [offer] = await query<{ status: string; expires_at: Date }>(tx, `select "status", "expires_at" from ${OFFERS} where "trip_id" = ? and "driver_user_id" = ?`, [tripId, principal.userId]);
    if (!offer) return forbidden('This trip was not offered to you.');
    const offerStatus = offer.status === 'PENDING' && new Date(offer.expires_at) <= now ? 'EXPIRED' : offer.status;
    return conflict(`The offer is ${offerStatus} and the trip is ${trip.status as string}.`, { status: trip.status, offerStatus });
  }
}

