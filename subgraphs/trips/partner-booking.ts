import { raw, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import { AppError, badUserInput, conflict, forbidden } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { toMoney } from '../../platform/money.ts';
import { decodeCursor, toConnection, type Connection } from '../../platform/pagination.ts';
import type { QuoteClaims } from '../../platform/quote-token.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';
import { isUuid, parseInput, z } from '../../platform/validation.ts';
import { tripOfQuote, writeBookedTrip } from './booking.ts';
import { Trip, TRIP_STATUSES } from './entities.ts';
import type { EventRecorder } from './events.ts';
import type { GuestRiders, PartnerFareHolds } from './partner-payments.ts';
import { bookingTripId } from './payments.ts';
import { assertUsableBy, quoteInvalid, readQuote } from './quotes.ts';
import { idempotencyKeySchema, pageArgsSchema } from './validation.ts';

/** The guest's phone and name, checked here with accounts' rules before anything is read or written. */
const guestSchema = z.object({
  phone: z.string().trim().regex(/^\+[1-9]\d{7,14}$/, 'must be an E.164 phone number, e.g. +201001234567'),
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});

export const bookRideForGuestSchema = z.object({
  input: z.object({
    quoteId: z.string().min(1, 'must not be empty').max(4096, 'is too long'),
    guest: guestSchema,
    note: z.string().trim().max(200, 'must be at most 200 characters').nullish(),
  }),
  idempotencyKey: idempotencyKeySchema,
});
export type BookRideForGuestArgs = z.infer<typeof bookRideForGuestSchema>;

export const partnerTripsSchema = pageArgsSchema.extend({ status: z.enum(TRIP_STATUSES).nullish() });

export interface PartnerBookingOptions {
  quoteSigningSecret: string;
  events: EventRecorder;
  fareHolds: PartnerFareHolds;
  guests: GuestRiders;
  logger: Logger;
  /** A trip was booked (committed): dispatch it now. */
  onRequested(trip: Trip): void;
}

/**
 * Partner organisations booking rides for their guests (hotels, travel desks). A PARTNER token's `sub`
 * is the organisation's id. The trip is an ordinary trip once written — dispatch, offers, the driver's
 * steps, events — whose rider is the guest (accounts finds or creates them by phone), whose
 * `partnerId` names the organisation and whose payment method is PARTNER: the fare is held on the
 * partner's ledger account (postpaid, within its credit limit) and settled from it.
 */
export class PartnerBookings {
  readonly #options: PartnerBookingOptions;

  constructor(options: PartnerBookingOptions) {
    this.#options = options;
  }

  /**
   * Books the quoted ride for the guest. Checks, in order, none of which writes anything:
   * 1. input (guest phone E.164, name 1–100 characters, note ≤ 200, the key) — BAD_USER_INPUT;
   * 2. the quote is one pricing signed — QUOTE_INVALID (INVALID);
   * 3. a trip this partner booked with this key is returned as it is (another quote under the key:
   *    CONFLICT, IDEMPOTENCY_KEY_REUSED);
   * 4. the quote is this partner's and unexpired — QUOTE_INVALID (WRONG_RIDER / EXPIRED), and unused (USED);
   * 5. the wallet holds the fare on the partner's account — CREDIT_LIMIT_EXCEEDED over the limit,
   *    SERVICE_UNAVAILABLE when the wallet does not answer;
   * 6. accounts finds or creates the guest rider (after the hold: a refused booking creates nobody);
   * 7. the trip and its TripRequested event are one statement; a unique constraint it breaks (the key
   *    raced, the quote used meanwhile, the guest already on an active trip: CONFLICT ACTIVE_TRIP)
   *    releases the hold (unless it is the winning trip's own) before answering.
   * The trip id derives from (partner, key), so every attempt of one booking names one trip and one hold.
   */
  async bookRideForGuest(em: EntityManager, principal: Principal, args: unknown, call: ServiceRequestOptions = {}): Promise<Trip> {
    const partnerId = partnerOf(principal);
    const request = parseInput(bookRideForGuestSchema, args);
    const claims = readQuote(request.input.quoteId, this.#options.quoteSigningSecret);
    const byKey = await this.#byKey(em, partnerId, request.idempotencyKey);
    if (byKey) return replay(byKey, claims);
    assertUsableBy(claims, partnerId);
    if ((await em.count(Trip, { quoteId: claims.quoteId })) > 0) throw quoteInvalid('USED');

    const tripId = bookingTripId(partnerId, request.idempotencyKey);
    const fare = toMoney(BigInt(claims.fareMinor), claims.currency);
    const replayed = await this.#hold(em, { tripId, partnerId, amount: fare }, request, claims, call);
    if (replayed) return replayed;

    let guest: { userId: string };
    try {
      guest = await this.#options.guests.guestRider(request.input.guest, call);
    } catch (error) {
      await this.#release(tripId, call);
      throw error;
    }

    const trip = tripOfQuote(em, claims, {
      id: tripId,
      riderId: guest.userId,
      partnerId,
      partnerNote: request.input.note || null,
      paymentMethod: 'PARTNER',
      quoteToken: request.input.quoteId,
      idempotencyKey: request.idempotencyKey,
    });
    try {
      await writeBookedTrip(em, this.#options.events, trip);
      this.#options.onRequested(trip);
      return trip;
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException)) {
        this.#options.logger.warn({ err: error, tripId }, 'partner booking failed after its fare was held; the hold is left to a retry or to the wallet');
        throw error;
      }
      const winner = await this.#byKey(em, partnerId, request.idempotencyKey);
      if (winner?.id !== tripId) await this.#release(tripId, call);
      if (winner) return replay(winner, claims);
      if ((await em.count(Trip, { quoteId: claims.quoteId })) > 0) throw quoteInvalid('USED');
      throw conflict('The guest already has an active trip.', { reason: 'ACTIVE_TRIP' });
    }
  }

  /** The partner's trips, newest first, by keyset (requested_at, id); `status` filters. */
  async listTrips(em: EntityManager, principal: Principal, args: unknown): Promise<Connection<Trip>> {
    const partnerId = partnerOf(principal);
    const { first, after, status } = parseInput(partnerTripsSchema, args);
    const cursor = decodeCursor(after);
    if (cursor && !isUuid(cursor.id)) throw badUserInput('The cursor is not valid.', { after: 'is not a cursor from this list' });
    const rows = await em.find(
      Trip,
      {
        partnerId,
        ...(status ? { status } : {}),
        ...(cursor ? { [raw((alias) => `(${alias}.requested_at, ${alias}.id) < (?, ?)`, [cursor.at, cursor.id])]: [] } : {}),
      },
      { orderBy: { requestedAt: 'desc', id: 'desc' }, limit: first + 1 },
    );
    return toConnection(rows, first, (trip) => ({ at: trip.requestedAt, id: trip.id }));
  }

  async #byKey(em: EntityManager, partnerId: string, idempotencyKey: string): Promise<Trip | null> {
    return em.findOne(Trip, { partnerId, idempotencyKey }, { refresh: true });
  }

  /**
   * Holds the fare on the partner's account: undefined once held. When the wallet refuses, the key's trip
   * is read first (a racing copy of this booking wrote it: that trip is the answer), then the refusal stands.
   */
  async #hold(em: EntityManager, fare: { tripId: string; partnerId: string; amount: ReturnType<typeof toMoney> }, request: BookRideForGuestArgs, claims: QuoteClaims, call: ServiceRequestOptions): Promise<Trip | undefined> {
    let refusal: AppError;
    try {
      const hold = await this.#options.fareHolds.hold(fare, call);
      if (hold.status === 'AUTHORIZED') return undefined;
      refusal = conflict('This idempotency key was used for a booking that was refused; book again with a new key.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
    } catch (error) {
      refusal = this.#refusal(error, fare);
    }
    const byKey = await this.#byKey(em, fare.partnerId, request.idempotencyKey);
    if (byKey) return replay(byKey, claims);
    throw refusal;
  }

  #refusal(error: unknown, { tripId, amount }: { tripId: string; amount: ReturnType<typeof toMoney> }): AppError {
    const code = error instanceof AppError ? error.code : undefined;
    if (code === 'CREDIT_LIMIT_EXCEEDED') return new AppError('CREDIT_LIMIT_EXCEEDED', 'This booking would take your account past its credit limit.', { fare: amount, ...pick((error as AppError).extensions, ['limit', 'outstanding', 'held']) });
    if (code === 'CONFLICT') return conflict('This idempotency key was already used for a different trip request.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
    if (code === 'SERVICE_UNAVAILABLE') return new AppError('SERVICE_UNAVAILABLE', 'The wallet is not available right now; try again.', { service: 'wallet' });
    this.#options.logger.error({ err: error, tripId }, 'the wallet failed to hold a partner fare');
    return new AppError('INTERNAL_SERVER_ERROR', 'The wallet could not hold the fare.');
  }

  async #release(tripId: string, call: ServiceRequestOptions): Promise<void> {
    try {
      await this.#options.fareHolds.release(tripId, call);
    } catch (error) {
      this.#options.logger.warn({ err: error, tripId }, 'could not release the fare held for a refused partner booking; the wallet must reclaim it');
    }
  }
}

const pick = (extensions: Record<string, unknown>, keys: readonly string[]) => Object.fromEntries(keys.filter((key) => extensions[key] !== undefined).map((key) => [key, extensions[key]]));

/** The calling organisation: a PARTNER token's `sub` is a uuid (the router mints it from an API key). */
function partnerOf(principal: Principal): string {
  if (principal.role !== 'PARTNER' || !isUuid(principal.userId)) throw forbidden('Only partner organisations book for guests.');
  return principal.userId;
}

/** The same key for the same quote returns the trip it booked; for another quote it is a CONFLICT. */
function replay(trip: Trip, claims: QuoteClaims): Trip {
  if (trip.quoteId === claims.quoteId && trip.paymentMethod === 'PARTNER') return trip;
  throw conflict('This idempotency key was already used for a different trip request.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
}
