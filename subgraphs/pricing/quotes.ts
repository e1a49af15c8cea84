import type { QuoteClaims } from '../../platform/quote-token.ts';
import { toMoney, type Money } from '../../platform/money.ts';
import type { Quote, VehicleType } from './entities.ts';

/** A Quote as the graph shows it: `id` is the signed token, never the row id. */
export interface QuoteView {
  id: string;
  vehicleType: VehicleType;
  fare: Money;
  breakdown: { baseFare: Money; distanceFare: Money; timeFare: Money; bookingFee: Money };
  surgeMultiplier: string;
  distanceM: number;
  durationS: number;
  pickup: { lat: number; lng: number };
  dropoff: { lat: number; lng: number };
  expiresAt: Date;
}

export function toQuoteView(quote: Quote, token: string): QuoteView {
  const money = (minor: bigint) => toMoney(minor, quote.currency);
  return {
    id: token,
    vehicleType: quote.vehicleType,
    fare: money(quote.fareMinor),
    breakdown: {
      baseFare: money(quote.baseFareMinor),
      distanceFare: money(quote.distanceFareMinor),
      timeFare: money(quote.timeFareMinor),
      bookingFee: money(quote.bookingFeeMinor),
    },
    surgeMultiplier: quote.surgeMultiplier,
    distanceM: quote.distanceM,
    durationS: quote.durationS,
    pickup: { lat: quote.pickupLat, lng: quote.pickupLng },
    dropoff: { lat: quote.dropoffLat, lng: quote.dropoffLng },
    expiresAt: quote.expiresAt,
  };
}

/** The claims trips verifies: exactly what was stored, so the token and the row always agree. */
export function claimsOf(quote: Pick<Quote, 'id' | 'riderId' | 'vehicleType' | 'pickupLat' | 'pickupLng' | 'dropoffLat' | 'dropoffLng' | 'fareMinor' | 'currency' | 'distanceM' | 'durationS' | 'expiresAt'>): QuoteClaims {
  return {
    quoteId: quote.id,
    riderId: quote.riderId,
    vehicleType: quote.vehicleType,
    pickup: { lat: quote.pickupLat, lng: quote.pickupLng },
    dropoff: { lat: quote.dropoffLat, lng: quote.dropoffLng },
    fareMinor: quote.fareMinor.toString(),
    currency: quote.currency,
    distanceM: quote.distanceM,
    durationS: quote.durationS,
    expiresAt: quote.expiresAt.getTime(),
  };
}
