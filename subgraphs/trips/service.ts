import { randomUUID } from 'node:crypto';
import { raw, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import { badUserInput, conflict } from '../../platform/errors.ts';
import { decodeCursor, toConnection, type Connection } from '../../platform/pagination.ts';
import type { QuoteClaims } from '../../platform/quote-token.ts';
import { isUuid, parseInput } from '../../platform/validation.ts';
import { ACTIVE_TRIP_STATUSES, Trip } from './entities.ts';
import { UNKICKED_AFTER_MS } from './dispatch/dispatcher.ts';
import { tripEvents, type EventRecorder } from './events.ts';
import { insertOf, newTrip, query } from './rows.ts';
import { assertUsableBy, isUsableBy, quoteInvalid, readQuote } from './quotes.ts';
import { pageArgsSchema, requestTripSchema, type RequestTripArgs } from './validation.ts';

export interface TripsServiceOptions {
  /** The HMAC secret pricing signs quotes with. */
  quoteSigningSecret: string;
  events: EventRecorder;
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
  readonly #onRequested: TripsServiceOptions['onRequested'];

  constructor(options: TripsServiceOptions) {
    this.#secret = options.quoteSigningSecret;
    this.#events = options.events;
    this.#onRequested = options.onRequested;
  }

  /**
   * Books the quoted ride for the calling rider. Checks run in this order:
   * 1. the idempotency key and input are well-formed (BAD_USER_INPUT);
   * 2. the quote is one pricing signed (QUOTE_INVALID, reason INVALID);
   * 3. a trip this rider already booked with this key is returned as it is, even once the quote has
   *    expired; the key used for a different request (quote or payment method) is a CONFLICT;
   * 4. the quote is this rider's and unexpired (QUOTE_INVALID, WRONG_RIDER / EXPIRED);
   * 5. the quote booked no other trip (QUOTE_INVALID, USED) and the rider has no active trip (CONFLICT).
   * Steps 3 and 5 are the unique constraints' to enforce: (rider_id, idempotency_key), quote_id, and one
   * active trip per rider. The insert is tried, and when it breaks one of them the rows it met are read
   * to answer as above (step 3 is also read before step 4, as an expired quote may still replay).
   * The trip and its TripRequested event commit together; dispatch starts right after the commit, and
   * should this process die first, any replica's dispatcher loop starts it `UNKICKED_AFTER_MS` later.
   */
  async requestTrip(em: EntityManager, principal: Principal, args: unknown): Promise<Trip> {
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

    const now = new Date();
    const trip = newTrip(em, {
      id: randomUUID(),
      riderId,
      driverId: null,
      driverUserId: null,
      status: 'REQUESTED',
      vehicleType: claims.vehicleType,
      paymentMethod: request.input.paymentMethod,
      pickupLat: claims.pickup.lat,
      pickupLng: claims.pickup.lng,
      dropoffLat: claims.dropoff.lat,
      dropoffLng: claims.dropoff.lng,
      fareMinor: BigInt(claims.fareMinor),
      currency: claims.currency,
      distanceM: claims.distanceM,
      durationS: claims.durationS,
      commissionBps: claims.commissionBps,
      quoteCancellationFeeMinor: BigInt(claims.cancellationFeeMinor),
      quoteId: claims.quoteId,
      quoteToken: request.input.quoteId,
      idempotencyKey: request.idempotencyKey,
      requestedAt: now,
      updatedAt: now,
      nextDispatchAt: new Date(now.getTime() + UNKICKED_AFTER_MS),
    });
    try {
      // The trip and its TripRequested event in one statement (one round trip, its own transaction). A
      // lost race fails it whole and is explained below.
      const insert = insertOf(em, trip);
      const outbox = this.#events.outboxInsert(tripEvents.requested(trip));
      await query(em, `with "trip" as (${insert.sql}), "event" as (${outbox.sql}) select 1`, [...insert.params, ...outbox.params]);
      outbox.committed();
      this.#onRequested(trip);
      return trip;
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      // Another request won a race; the row it wrote is committed (a unique check waits for that).
      const after = await this.#related(em, riderId, request, claims);
      if (after.byKey) return this.#replay(after.byKey, request, claims);
      if (after.byQuote) throw quoteInvalid('USED');
      throw activeTripConflict();
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
