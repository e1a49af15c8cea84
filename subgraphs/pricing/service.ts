import { randomUUID } from 'node:crypto';
import type DataLoader from 'dataloader';
import type { Principal } from '../../platform/auth.ts';
import { AppError } from '../../platform/errors.ts';
import type { EntityManager } from '../../platform/db.ts';
import { signQuote, verifyQuote } from '../../platform/quote-token.ts';
import type { LatLng, RoutingProvider } from '../../platform/routing.ts';
import { isUuid, parseInput } from '../../platform/validation.ts';
import type { VehicleType } from './entities.ts';
import { computeFare, formatMultiplier, NO_SURGE, type Fare } from './fares.ts';
import { priceListFor, priceListsInForce, timeOfDayMultiplier, type PriceBook, type PriceList } from './price-lists.ts';
import type { QuoteStore } from './quote-store.ts';
import { claimsOf, recordFromClaims, toQuoteView, type QuoteRecord, type QuoteView } from './quotes.ts';
import { surgeMap, type SurgeMapView } from './surge-map.ts';
import { multiplierOf } from './surge-store.ts';
import { cellOf } from './surge.ts';
import { fareEstimatesArgsSchema, surgeMapArgsSchema } from './validation.ts';

/** A quote row: the route and points it prices, the fare and its breakdown, what trips needs, and when it expires. */
export function quoteRow(input: {
  id: string;
  riderId: string;
  vehicleType: VehicleType;
  pickup: LatLng;
  dropoff: LatLng;
  route: { distanceM: number; durationS: number };
  fare: Fare;
  list: PriceList;
  fareRuleId: string | null;
  h3Cell: string;
  expiresAt: Date;
  createdAt: Date;
}): QuoteRecord {
  const { fare, list } = input;
  return {
    id: input.id,
    riderId: input.riderId,
    vehicleType: input.vehicleType,
    pickupLat: input.pickup.lat,
    pickupLng: input.pickup.lng,
    dropoffLat: input.dropoff.lat,
    dropoffLng: input.dropoff.lng,
    distanceM: input.route.distanceM,
    durationS: input.route.durationS,
    baseFareMinor: fare.baseMinor,
    distanceFareMinor: fare.distanceMinor,
    timeFareMinor: fare.timeMinor,
    bookingFeeMinor: fare.bookingFeeMinor,
    minimumTopUpMinor: fare.minimumTopUpMinor,
    timeOfDayMinor: fare.timeOfDayMinor,
    surgeMinor: fare.surgeMinor,
    roundingMinor: fare.roundingMinor,
    fareMinor: fare.totalMinor,
    currency: list.currency,
    surgeMultiplier: formatMultiplier(fare.surge),
    timeOfDayMultiplier: formatMultiplier(fare.timeOfDay),
    cancellationFeeMinor: list.cancellationFeeMinor,
    commissionBps: list.commissionBps,
    h3Cell: input.h3Cell,
    fareRuleId: input.fareRuleId,
    tripId: null,
    bookedAt: null,
    expiresAt: input.expiresAt,
    createdAt: input.createdAt,
  } satisfies QuoteRecord;
}

export interface PricingServiceOptions {
  /** Signs quote ids; trips verifies them with the same secret. */
  quoteSigningSecret: string;
  routing: RoutingProvider;
  store: QuoteStore;
  priceBook: { get(): Promise<PriceBook> };
  /** The city's IANA zone: time-of-day windows are local time. */
  timeZone: string;
  quoteTtlSeconds: number;
  /** How old a supply snapshot may be and still count (surgeMap shows unknown supply otherwise). */
  supplyFreshMs: number;
  now?: () => Date;
}

/** Upfront prices: signed, expiring quotes, stored so their ids resolve to the full breakdown. */
export class PricingService {
  readonly #secret: string;
  readonly #routing: RoutingProvider;
  readonly #store: QuoteStore;
  readonly #priceBook: { get(): Promise<PriceBook> };
  readonly #timeZone: string;
  readonly #ttlMs: number;
  readonly #supplyFreshMs: number;
  readonly #now: () => Date;

  constructor(options: PricingServiceOptions) {
    this.#secret = options.quoteSigningSecret;
    this.#routing = options.routing;
    this.#store = options.store;
    this.#priceBook = options.priceBook;
    this.#timeZone = options.timeZone;
    this.#ttlMs = options.quoteTtlSeconds * 1000;
    this.#supplyFreshMs = options.supplyFreshMs;
    this.#now = options.now ?? (() => new Date());
  }

  get store(): QuoteStore {
    return this.#store;
  }

  /**
   * One quote per vehicle type asked for. Input is validated before anything is read or written. One
   * surge lookup (the pickup's cell); price lists come from the in-process book; the quotes are
   * stored in one write (one Redis transaction, or one INSERT).
   */
  async fareEstimates(em: EntityManager, principal: Principal, args: unknown): Promise<QuoteView[]> {
    const { pickup, dropoff, vehicleTypes } = parseInput(fareEstimatesArgsSchema, args);
    const now = this.#now();
    const h3Cell = cellOf(pickup);
    const [route, book, surge] = await Promise.all([this.#routing.estimate(pickup, dropoff, { departAt: now }), this.#priceBook.get(), multiplierOf(em, h3Cell)]);
    const lists = priceListsInForce(book.rules, now);
    const timeOfDay = timeOfDayMultiplier(book.windows, now, this.#timeZone);
    const expiresAt = new Date(now.getTime() + this.#ttlMs);
    const quotes = vehicleTypes.map((vehicleType) => {
      const list = priceListFor(lists, vehicleType);
      const fare = computeFare(list, route, { timeOfDay, surge: surge ?? NO_SURGE });
      return quoteRow({ id: randomUUID(), riderId: principal.userId, vehicleType, pickup, dropoff, route, fare, list, fareRuleId: list.id, h3Cell, expiresAt, createdAt: now });
    });
    await this.#store.save(em, quotes);
    return quotes.map((quote) => toQuoteView(quote, signQuote(claimsOf(quote), this.#secret)));
  }

  /**
   * A quote id from anywhere in the graph (Trip.quote, `_entities`): the stored quote, or, when neither
   * Redis nor Postgres holds it (Redis lost it before its booking was kept), the quote rebuilt from the
   * id's own signed claims. NOT_FOUND, an error on that field only, for an id that is not ours, or a
   * token issued before the claims carried the whole quote whose quote is no longer stored.
   */
  async resolveQuote(token: string, quotesById: DataLoader<string, QuoteRecord | null>): Promise<QuoteView> {
    const claims = typeof token === 'string' ? verifyQuote(token, this.#secret) : null;
    if (!claims || !isUuid(claims.quoteId)) throw new AppError('NOT_FOUND', 'The quote was not found: its id is not one pricing issued.', { reason: 'INVALID' });
    const quote = (await quotesById.load(claims.quoteId)) ?? recordFromClaims(claims);
    if (!quote) throw new AppError('NOT_FOUND', 'The quote was not found: it is no longer stored and its id predates quotes carried whole.', { reason: 'NOT_STORED' });
    return toQuoteView(quote, token);
  }

  /** The quote a signed id carries, when it is ours and carries it whole (what a booking keeps if Redis lost the quote). */
  quoteOfToken(token: string): QuoteRecord | null {
    const claims = verifyQuote(token, this.#secret);
    return claims && isUuid(claims.quoteId) ? recordFromClaims(claims) : null;
  }

  async surgeMap(em: EntityManager, args: unknown): Promise<SurgeMapView> {
    const { center, radiusM } = parseInput(surgeMapArgsSchema, args);
    return surgeMap(em, center, radiusM, new Date(this.#now().getTime() - this.#supplyFreshMs));
  }
}
