import type { QuoteClaims } from '../../platform/quote-token.ts';
import { toMoney, type Money } from '../../platform/money.ts';
import { VEHICLE_TYPES, type Quote, type VehicleType } from './entities.ts';
import { cellOf } from './surge.ts';
import { rebuildableClaimsSchema } from './validation.ts';

/** A quote's stored fields, as plain data (the entity class's shape, never a managed entity). */
export type QuoteRecord = Omit<Quote, never>;

/** A Quote as the graph shows it: `id` is the signed token, never the row id. */
export interface QuoteView {
  id: string;
  vehicleType: VehicleType;
  fare: Money;
  breakdown: {
    baseFare: Money;
    distanceFare: Money;
    timeFare: Money;
    minimumFareTopUp: Money;
    timeOfDayAmount: Money;
    surgeAmount: Money;
    bookingFee: Money;
    rounding: Money;
  };
  surgeMultiplier: string;
  timeOfDayMultiplier: string;
  cancellationFee: Money;
  distanceM: number;
  durationS: number;
  pickup: { lat: number; lng: number };
  dropoff: { lat: number; lng: number };
  expiresAt: Date;
}

export function toQuoteView(quote: QuoteRecord, token: string): QuoteView {
  const money = (minor: bigint) => toMoney(minor, quote.currency);
  return {
    id: token,
    vehicleType: quote.vehicleType,
    fare: money(quote.fareMinor),
    breakdown: {
      baseFare: money(quote.baseFareMinor),
      distanceFare: money(quote.distanceFareMinor),
      timeFare: money(quote.timeFareMinor),
      minimumFareTopUp: money(quote.minimumTopUpMinor),
      timeOfDayAmount: money(quote.timeOfDayMinor),
      surgeAmount: money(quote.surgeMinor),
      bookingFee: money(quote.bookingFeeMinor),
      rounding: money(quote.roundingMinor),
    },
    surgeMultiplier: quote.surgeMultiplier,
    timeOfDayMultiplier: quote.timeOfDayMultiplier,
    cancellationFee: money(quote.cancellationFeeMinor),
    distanceM: quote.distanceM,
    durationS: quote.durationS,
    pickup: { lat: quote.pickupLat, lng: quote.pickupLng },
    dropoff: { lat: quote.dropoffLat, lng: quote.dropoffLng },
    expiresAt: quote.expiresAt,
  };
}

/** The claims trips verifies: exactly what was stored, so the token and the row always agree. */
export function claimsOf(quote: QuoteRecord): QuoteClaims {
  const pickup = { lat: quote.pickupLat, lng: quote.pickupLng };
  return {
    quoteId: quote.id,
    riderId: quote.riderId,
    vehicleType: quote.vehicleType,
    pickup,
    dropoff: { lat: quote.dropoffLat, lng: quote.dropoffLng },
    fareMinor: quote.fareMinor.toString(),
    currency: quote.currency,
    distanceM: quote.distanceM,
    durationS: quote.durationS,
    expiresAt: quote.expiresAt.getTime(),
    commissionBps: quote.commissionBps,
    cancellationFeeMinor: quote.cancellationFeeMinor.toString(),
    surgeMultiplier: quote.surgeMultiplier,
    h3Cell: quote.h3Cell ?? cellOf(pickup),
    breakdown: {
      baseMinor: quote.baseFareMinor.toString(),
      distanceMinor: quote.distanceFareMinor.toString(),
      timeMinor: quote.timeFareMinor.toString(),
      bookingFeeMinor: quote.bookingFeeMinor.toString(),
      minimumTopUpMinor: quote.minimumTopUpMinor.toString(),
      timeOfDayMinor: quote.timeOfDayMinor.toString(),
      surgeMinor: quote.surgeMinor.toString(),
      roundingMinor: quote.roundingMinor.toString(),
    },
    timeOfDayMultiplier: quote.timeOfDayMultiplier,
    fareRuleId: quote.fareRuleId,
    issuedAt: quote.createdAt.getTime(),
  };
}

/**
 * The quote a verified token describes, rebuilt from its claims alone (never booked: the booking is
 * the caller's to add); null for a token issued before the claims carried the whole quote, or claims
 * this release cannot read.
 */
export function recordFromClaims(claims: QuoteClaims): QuoteRecord | null {
  const parsed = rebuildableClaimsSchema.safeParse(claims);
  if (!parsed.success) return null;
  const c = parsed.data;
  return {
    id: c.quoteId,
    riderId: c.riderId,
    vehicleType: c.vehicleType,
    pickupLat: c.pickup.lat,
    pickupLng: c.pickup.lng,
    dropoffLat: c.dropoff.lat,
    dropoffLng: c.dropoff.lng,
    distanceM: c.distanceM,
    durationS: c.durationS,
    baseFareMinor: BigInt(c.breakdown.baseMinor),
    distanceFareMinor: BigInt(c.breakdown.distanceMinor),
    timeFareMinor: BigInt(c.breakdown.timeMinor),
    bookingFeeMinor: BigInt(c.breakdown.bookingFeeMinor),
    minimumTopUpMinor: BigInt(c.breakdown.minimumTopUpMinor),
    timeOfDayMinor: BigInt(c.breakdown.timeOfDayMinor),
    surgeMinor: BigInt(c.breakdown.surgeMinor),
    roundingMinor: BigInt(c.breakdown.roundingMinor),
    fareMinor: BigInt(c.fareMinor),
    currency: c.currency,
    surgeMultiplier: c.surgeMultiplier,
    timeOfDayMultiplier: c.timeOfDayMultiplier,
    cancellationFeeMinor: BigInt(c.cancellationFeeMinor),
    commissionBps: c.commissionBps,
    h3Cell: c.h3Cell,
    fareRuleId: c.fareRuleId,
    tripId: null,
    bookedAt: null,
    expiresAt: new Date(c.expiresAt),
    createdAt: new Date(c.issuedAt),
  } satisfies QuoteRecord;
}

const BIGINT_FIELDS = [
  'baseFareMinor',
  'distanceFareMinor',
  'timeFareMinor',
  'bookingFeeMinor',
  'minimumTopUpMinor',
  'timeOfDayMinor',
  'surgeMinor',
  'roundingMinor',
  'fareMinor',
  'cancellationFeeMinor',
] as const satisfies ReadonlyArray<keyof QuoteRecord>;
const DATE_FIELDS = ['expiresAt', 'createdAt', 'bookedAt'] as const satisfies ReadonlyArray<keyof QuoteRecord>;

/** JSON for Redis: amounts as decimal integer strings, instants as ISO strings. */
export function serializeQuote(quote: QuoteRecord): string {
  return JSON.stringify(quote, (_key, value) => (typeof value === 'bigint' ? value.toString() : value));
}

/** The inverse of serializeQuote; null for anything that is not a quote this release wrote. */
export function deserializeQuote(raw: string): QuoteRecord | null {
  try {
    const data = JSON.parse(raw) as Record<string, unknown>;
    if (typeof data.id !== 'string' || !VEHICLE_TYPES.includes(data.vehicleType as VehicleType)) return null;
    for (const field of BIGINT_FIELDS) data[field] = BigInt(data[field] as string);
    for (const field of DATE_FIELDS) data[field] = data[field] == null ? null : new Date(data[field] as string);
    return data as unknown as QuoteRecord;
  } catch {
    return null;
  }
}
