import { raw, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import { AppError, badUserInput, conflict } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { toMoney } from '../../platform/money.ts';
import { decodeCursor, toConnection, type Connection } from '../../platform/pagination.ts';
import type { QuoteClaims } from '../../platform/quote-token.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';
import { isUuid, parseInput } from '../../platform/validation.ts';
import { ACTIVE_TRIP_STATUSES, Trip } from './entities.ts';
import { tripOfQuote, writeBookedTrip } from './booking.ts';
import type { EventRecorder } from './events.ts';
import { bookingTripId, type FareHoldRequest, type FareHolds } from './payments.ts';
import { assertUsableBy, isUsableBy, quoteInvalid, readQuote } from './quotes.ts';
import { pageArgsSchema, requestTripSchema, type RequestTripArgs } from './validation.ts';

export interface TripsServiceOptions {
  /** The HMAC secret pricing signs quotes with. */
  quoteSigningSecret: string;
  events: EventRecorder;
  /** The wallet: WALLET trips hold their fare there before they are written. */
  fareHolds: FareHolds;
  logger: Logger;
  /** A trip was booked (committed): dispatch it now. */
  onRequested(trip: Trip): void;
}

/** Whose trips a list shows: a rider's own, or those assigned to a driver (by accounts user id). */
export type TripOwner = { riderId: string } | { driverUserId: string };

const ACTIVE = [...ACTIVE_TRIP_STATUSES];

/** Booking and listing trips. The database's unique constraints are the arbiters of every race. */
export class TripsService {
  readonly #secret: string;
  readonly #events: EventRecorder;
  readonly #fareHolds: FareHolds;
  readonly #logger: Logger;
  readonly #onRequested: TripsServiceOptions['onRequested'];

  constructor(options: TripsServiceOptions) {
    this.#secret = options.quoteSigningSecret;
    this.#events = options.events;
    this.#fareHolds = options.fareHolds;
    this.#logger = options.logger;
    this.#onRequested = options.onRequested;
  }

  /**
   * Books the quoted ride for the calling rider. Checks run in this order:
   * 1. the idempotency key and input are well-formed (BAD_USER_INPUT);
   * 2. the quote is one pricing signed (QUOTE_INVALID, reason INVALID);
   * 3. a trip this rider already booked with this key is returned as it is, even once the quote has
   *    expired; the key used for a different request (quote or payment method) is a CONFLICT;
   * 4. the quote is this rider's and unexpired (QUOTE_INVALID, WRONG_RIDER / EXPIRED);
   * 5. the quote booked no other trip (QUOTE_INVALID, USED) and the rider has no active trip (CONFLICT);
   * 6. WALLET only: the rider's wallet covers the fare (INSUFFICIENT_FUNDS), the wallet answered
   *    (SERVICE_UNAVAILABLE).
   * Steps 3 and 5 are the unique constraints' to enforce: (rider_id, idempotency_key), quote_id, and one
   * active trip per rider. The insert is tried, and when it breaks one of them the rows it met are read
   * to answer as above (step 3 is also read before step 4, as an expired quote may still replay).
   * The trip and its TripRequested event commit together; dispatch starts right after the commit, and
   * should this process die first, any replica's dispatcher loop starts it `UNKICKED_AFTER_MS` later.
   *
   * The trip's id is derived from (rider, key) (`bookingTripId`): every attempt of one booking names the
   * same trip. A WALLET trip's fare is held by the wallet under that id BEFORE the insert (one hold per
   * trip id, so a retry, or ten copies racing, hold once). When the wallet refuses or does not answer,
   * nothing is written; the rider's trips are read only then, so that steps 3 and 5 still answer first.
   * A booking refused after its hold (step 5 lost to a race, or the key's trip is another request)
   * releases the hold before it answers.
   *
   * Orphan holds: should this process die (or the insert fail without saying whether it committed)
   * between the hold and the insert, the fare stays held for a trip that does not exist. A retry with
   * the same key adopts it (same trip id, same hold). Otherwise the wallet reclaims it: a hold whose
   * trip id never appeared in trips' events (TripRequested) within the grace period is voided there
   * (subgraphs/wallet/maintenance.ts). Trips never releases a hold it cannot prove is not its trip's.
   *
   * The holds of bookings arriving together go to the wallet in one call (payments.ts httpFareHolds);
   * each booking still gets its own hold or refusal.
   */
  async requestTrip(em: EntityManager, principal: Principal, args: unknown, call: ServiceRequestOptions = {}): Promise<Trip> {
    const request = parseInput(requestTripSchema, args);
    const claims = readQuote(request.input.quoteId, this.#secret);
    const riderId = principal.userId;

    // The usual booking goes straight to the insert; the unique constraints say when it may not, and
    // only then is the rider's history read to explain why (in the order above).
    if (!isUsableBy(claims, riderId)) {
      const before = await this.#related(em, riderId, request, claims);
      if (before.byKey) return this.#replay(before.byKey, request, claims);
      assertUsableBy(claims, riderId);
    }

    const tripId = bookingTripId(riderId, request.idempotencyKey);
    const held = request.input.paymentMethod === 'WALLET';
    if (held) {
      const replayed = await this.#holdFare(em, { tripId, riderId, amount: toMoney(BigInt(claims.fareMinor), claims.currency) }, request, claims, call);
      if (replayed) return replayed;
    }

    const trip = tripOfQuote(em, claims, { id: tripId, riderId, paymentMethod: request.input.paymentMethod, quoteToken: request.input.quoteId, idempotencyKey: request.idempotencyKey });
    try {
      // A lost race fails the write whole and is explained below.
      await writeBookedTrip(em, this.#events, trip);
      this.#onRequested(trip);
      return trip;
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) {
        // Whether the statement committed is unknown (a connection lost at the commit): the hold stays, an
        // orphan at worst (see above), rather than a trip riding on a released hold.
        if (held) this.#logger.warn({ err: error, tripId: trip.id }, 'booking failed after its fare was held; the hold is left to a retry or to the wallet');
        throw error;
      }
      // Another request won a race; the row it wrote is committed (a unique check waits for that).
      const after = await this.#related(em, riderId, request, claims);
      // The hold is that trip's own only when the key's trip is this very trip, paid from the wallet.
      if (held && !(after.byKey?.id === trip.id && after.byKey.paymentMethod === 'WALLET')) await this.#releaseFare(trip.id, call);
      if (after.byKey) return this.#replay(after.byKey, request, claims);
      if (after.byQuote) throw quoteInvalid('USED');
      throw activeTripConflict();
    }
  }

  /**
   * Holds a WALLET trip's fare before the trip is written: undefined once the wallet holds it. When the
   * wallet refuses, cannot answer or reports that this trip id's hold was already resolved (a booking
   * with this key was refused and released before), the rider's trips are read to answer in the order
   * of `requestTrip`: a trip already booked with this key replays (the trip to answer with), a used
   * quote or an active trip is refused as ever, and only then the wallet's answer stands. Nothing is
   * written.
   */
  async #holdFare(em: EntityManager, fare: FareHoldRequest, request: RequestTripArgs, claims: QuoteClaims, call: ServiceRequestOptions): Promise<Trip | undefined> {
    let refusal: AppError;
    try {
      const hold = await this.#fareHolds.hold(fare, call);
      if (hold.status === 'AUTHORIZED') return undefined;
      // Resolved already: the trip exists (the insert replays it) or a refused booking released it.
      refusal = conflict('This idempotency key was used for a booking that was refused; book again with a new key.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
    } catch (error) {
      refusal = this.#walletRefusal(error, fare);
    }
    const before = await this.#related(em, fare.riderId, request, claims);
    if (before.byKey) return this.#replay(before.byKey, request, claims);
    if (before.byQuote) throw quoteInvalid('USED');
    if (before.active) throw activeTripConflict();
    throw refusal;
  }

  /** The rider's answer for a wallet that refused or failed to hold the fare. */
  #walletRefusal(error: unknown, { tripId, amount }: FareHoldRequest): AppError {
    const code = error instanceof AppError ? error.code : undefined;
    if (code === 'INSUFFICIENT_FUNDS') return new AppError('INSUFFICIENT_FUNDS', 'Your wallet balance does not cover the fare of this trip; top it up or pay in cash.', { fare: amount });
    // Another amount or rider already held under this trip id: the key was used for another request.
    if (code === 'CONFLICT') return conflict('This idempotency key was already used for a different trip request.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
    if (code === 'SERVICE_UNAVAILABLE') return new AppError('SERVICE_UNAVAILABLE', 'The wallet is not available right now; try again or pay in cash.', { service: 'wallet' });
    this.#logger.error({ err: error, tripId }, 'the wallet failed to hold a fare');
    return new AppError('INTERNAL_SERVER_ERROR', 'The wallet could not hold the fare.');
  }

  /** Gives back the fare held for a booking that was refused. A release that fails is logged: the hold is then an orphan for the wallet to reclaim. */
  async #releaseFare(tripId: string, call: ServiceRequestOptions): Promise<void> {
    try {
      await this.#fareHolds.release(tripId, call);
    } catch (error) {
      this.#logger.warn({ err: error, tripId }, 'could not release the fare held for a refused booking; the wallet must reclaim it');
    }
  }

  /** A page of trips, newest first, by keyset (requested_at, id). */
  async listTrips(em: EntityManager, owner: TripOwner, args: unknown): Promise<Connection<Trip>> {
    const { first, after } = parseInput(pageArgsSchema, args);
    const cursor = decodeCursor(after);
    if (cursor && !isUuid(cursor.id)) throw badUserInput('The cursor is not valid.', { after: 'is not a cursor from this list' });
    const rows = await em.find(
      Trip,
      {
        ...owner,
        ...(cursor ? { [raw((alias) => `(${alias}.requested_at, ${alias}.id) < (?, ?)`, [cursor.at, cursor.id])]: [] } : {}),
      },
      { orderBy: { requestedAt: 'desc', id: 'desc' }, limit: first + 1 },
    );
    return toConnection(rows, first, (trip) => ({ at: trip.requestedAt, id: trip.id }));
  }

  /** The rider's trip this driver is assigned to now, for drivers (a rider may follow their driver from DRIVER_ASSIGNED on). */
  async riderTripWithDriver(em: EntityManager, riderId: string, driverId: string): Promise<Trip | null> {
    if (!isUuid(riderId) || !isUuid(driverId)) return null;
    return em.findOne(Trip, { riderId, driverId, status: { $in: ['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS'] } }, { orderBy: { assignedAt: 'desc' }, refresh: true });
  }

  /** In one statement: the rider's trip with this key, the trip booked with this quote, the rider's active trip. */
  async #related(em: EntityManager, riderId: string, request: RequestTripArgs, claims: QuoteClaims) {
    const rows = await em.find(
      Trip,
      { $or: [{ riderId, idempotencyKey: request.idempotencyKey }, { quoteId: claims.quoteId }, { riderId, status: { $in: ACTIVE } }] },
      { refresh: true },
    );
    return {
      byKey: rows.find((trip) => trip.riderId === riderId && trip.idempotencyKey === request.idempotencyKey),
      byQuote: rows.find((trip) => trip.quoteId === claims.quoteId),
      active: rows.find((trip) => trip.riderId === riderId && ACTIVE.includes(trip.status as (typeof ACTIVE)[number])),
    };
  }

  /** The same key for the same request returns the trip it booked; for another request it is a CONFLICT. */
  #replay(trip: Trip, request: RequestTripArgs, claims: QuoteClaims): Trip {
    if (trip.quoteId === claims.quoteId && trip.paymentMethod === request.input.paymentMethod) return trip;
    throw conflict('This idempotency key was already used for a different trip request.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
  }
}

function activeTripConflict() {
  return conflict('You already have an active trip.', { reason: 'ACTIVE_TRIP' });
}
