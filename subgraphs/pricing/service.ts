import { randomUUID } from 'node:crypto';
import type DataLoader from 'dataloader';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import { signQuote, verifyQuote } from '../../platform/quote-token.ts';
import { isUuid, parseInput } from '../../platform/validation.ts';
import { FareRule, Quote, type VehicleType } from './entities.ts';
import { computeFare, formatSurge, NO_SURGE, type Fare, type FareSchedule } from './fares.ts';
import { claimsOf, toQuoteView, type QuoteView } from './quotes.ts';
import type { LatLng, RoutingProvider } from '../../platform/routing.ts';
import { fareEstimatesArgsSchema } from './validation.ts';

export const QUOTE_TTL_MS = 10 * 60_000;

export interface PricingServiceOptions {
  /** Signs quote ids; trips verifies them with the same secret. */
  quoteSigningSecret: string;
  routing: RoutingProvider;
  now?: () => Date;
}

/** The price list of every vehicle type in effect at `at`: per type, the row with the latest effectiveFrom ≤ at. */
export async function currentFareRules(em: EntityManager, at: Date): Promise<Map<VehicleType, FareRule>> {
  const rows = await em.find(FareRule, { effectiveFrom: { $lte: at } }, { orderBy: [{ effectiveFrom: 'desc' }, { id: 'asc' }] });
  const byType = new Map<VehicleType, FareRule>();
  for (const row of rows) if (!byType.has(row.vehicleType)) byType.set(row.vehicleType, row);
  return byType;
}

export const scheduleOf = (rule: FareRule): FareSchedule => ({
  vehicleType: rule.vehicleType,
  currency: rule.currency,
  baseMinor: rule.baseMinor,
  perKmMinor: rule.perKmMinor,
  perMinMinor: rule.perMinMinor,
  minimumMinor: rule.minimumMinor,
  bookingFeeMinor: rule.bookingFeeMinor,
});

/** The rule in effect for a vehicle type; the launch migration seeds one for every type. */
export function ruleFor(rules: Map<VehicleType, FareRule>, vehicleType: VehicleType): FareRule {
  const rule = rules.get(vehicleType);
  if (!rule) throw new Error(`No fare rule is in effect for ${vehicleType}`);
  return rule;
}

/** A quote row: the route and points it prices, the fare and its breakdown, and when it expires. */
export function quoteRow(input: {
  id: string;
  riderId: string;
  vehicleType: VehicleType;
  pickup: LatLng;
  dropoff: LatLng;
  route: { distanceM: number; durationS: number };
  fare: Fare;
  rule: FareRule;
  fareRuleId: string | null;
  expiresAt: Date;
  createdAt: Date;
}): Quote {
  const { fare } = input;
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
    fareMinor: fare.totalMinor,
    currency: input.rule.currency,
    surgeMultiplier: formatSurge(fare.surge),
    fareRuleId: input.fareRuleId,
    expiresAt: input.expiresAt,
    createdAt: input.createdAt,
  } satisfies Quote;
}

/** Upfront prices: signed, expiring quotes, stored so their ids resolve to the full breakdown. */
export class PricingService {
  readonly #secret: string;
  readonly #routing: RoutingProvider;
  readonly #now: () => Date;

  constructor(options: PricingServiceOptions) {
    this.#secret = options.quoteSigningSecret;
    this.#routing = options.routing;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * One quote per vehicle type asked for. Input is validated before anything is read or written;
   * the quotes are stored in one INSERT statement.
   */
  async fareEstimates(em: EntityManager, principal: Principal, args: unknown): Promise<QuoteView[]> {
    const { pickup, dropoff, vehicleTypes } = parseInput(fareEstimatesArgsSchema, args);
    const now = this.#now();
    const [route, rules] = await Promise.all([this.#routing.estimate(pickup, dropoff), currentFareRules(em, now)]);
    const expiresAt = new Date(now.getTime() + QUOTE_TTL_MS);
    const quotes = vehicleTypes.map((vehicleType) => {
      const rule = ruleFor(rules, vehicleType);
      const fare = computeFare(scheduleOf(rule), route, NO_SURGE);
      return quoteRow({ id: randomUUID(), riderId: principal.userId, vehicleType, pickup, dropoff, route, fare, rule, fareRuleId: rule.id, expiresAt, createdAt: now });
    });
    await em.insertMany(Quote, quotes);
    return quotes.map((quote) => toQuoteView(quote as Quote, signQuote(claimsOf(quote), this.#secret)));
  }

  /**
   * A quote id from anywhere in the graph (Trip.quote, `_entities`): null unless the signature is
   * ours and the quote is stored. Expired quotes still resolve: a trip keeps showing its price.
   */
  async resolveQuote(token: string, quotesById: DataLoader<string, Quote | null>): Promise<QuoteView | null> {
    const claims = typeof token === 'string' ? verifyQuote(token, this.#secret) : null;
    if (!claims || !isUuid(claims.quoteId)) return null;
    const quote = await quotesById.load(claims.quoteId);
    return quote ? toQuoteView(quote, token) : null;
  }
}
