import { randomUUID } from 'node:crypto';
import type { RequiredEntityData } from '@mikro-orm/core';
import { latLngToCell } from 'h3-js';
import { createLogger } from '../../../platform/logger.ts';
import { loadQuoteSigningSecret, signQuote, type QuoteClaims } from '../../../platform/quote-token.ts';
import type { Trip } from '../../../subgraphs/trips/entities.ts';
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

/**
 * A trip row for a test to write straight to the table (`em.create(Trip, tripRow({...}))`), with no
 * booking behind it: a 50.00 EGP CASH ECONOMY ride across central Cairo, COMPLETED, `fields` over it.
 */
export function tripRow(fields: Partial<RequiredEntityData<Trip>> = {}): RequiredEntityData<Trip> {
  return {
    id: randomUUID(),
    riderId: randomUUID(),
    driverId: null,
    driverUserId: null,
    status: 'COMPLETED',
    vehicleType: 'ECONOMY',
    paymentMethod: 'CASH',
    pickupLat: 30.05,
    pickupLng: 31.23,
    dropoffLat: 30.06,
    dropoffLng: 31.25,
    fareMinor: 5000n,
    currency: 'EGP',
    distanceM: 3000,
    durationS: 600,
    quoteId: randomUUID(),
    quoteToken: 'seeded',
    idempotencyKey: newKey(),
    ...fields,
  } as RequiredEntityData<Trip>;
}
