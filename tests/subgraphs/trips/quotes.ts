import { randomUUID } from 'node:crypto';
import { latLngToCell } from 'h3-js';
import { createLogger } from '../../../platform/logger.ts';
import { loadQuoteSigningSecret, signQuote, type QuoteClaims } from '../../../platform/quote-token.ts';
import type { Stack } from '../../support/stack.ts';

export type QuoteSigner = (riderId: string, overrides?: Partial<QuoteClaims>) => string;

/**
 * Signs quotes as pricing would (same DATA_DIR, so the same development secret as the stack's trips
 * subgraph): 87.50 EGP for a COMFORT ride across central Cairo, valid for ten minutes, fresh quoteId,
 * 15 % commission, 25.00 EGP for a late cancellation.
 */
export function quoteSigner(stack: Stack): QuoteSigner {
  const config = stack.config('trips');
  const secret = loadQuoteSigningSecret(config, createLogger(config));
  return (riderId, overrides = {}) =>
    signQuote(
      {
        quoteId: randomUUID(),
        riderId,
        vehicleType: 'COMFORT',
        pickup: { lat: 30.0444, lng: 31.2357 },
        dropoff: { lat: 30.0626, lng: 31.2497 },
        fareMinor: '8750',
        currency: 'EGP',
        distanceM: 5400,
        durationS: 900,
        expiresAt: Date.now() + 10 * 60_000,
        commissionBps: 1500,
        cancellationFeeMinor: '2500',
        surgeMultiplier: '1.00',
        h3Cell: latLngToCell(30.0444, 31.2357, 8),
        ...overrides,
      },
      secret,
    );
}

export const REQUEST_TRIP = `mutation RequestTrip($input: RequestTripInput!, $key: String!) {
  requestTrip(input: $input, idempotencyKey: $key) {
    id status vehicleType paymentMethod
    fare { amount currency }
    pickup { lat lng } dropoff { lat lng }
    rider { id } driver { id } quote { id }
    requestedAt updatedAt
  }
}`;

/** A fresh, valid idempotency key. */
export const newKey = () => `key-${randomUUID()}`;
