import { createHash } from 'node:crypto';
import type { Money } from '../../platform/money.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';

/**
 * What booking needs from the wallet, the owner of money: the fare of a WALLET trip held in the rider's
 * wallet before the trip is written, and the hold given back when the booking is refused after it. The
 * real one calls the wallet subgraph's service-only fields (`@inaccessible`, SERVICE role) over HTTP
 * with a service token, as dispatch calls drivers.
 */
export interface FareHolds {
  /**
   * Holds `amount` of the rider's wallet for the trip. One hold per trip id: the same call again answers
   * the same hold (whatever has become of it since). INSUFFICIENT_FUNDS when the available balance does
   * not cover it; CONFLICT when the trip id already holds another amount or another rider's money;
   * SERVICE_UNAVAILABLE when the wallet did not answer.
   */
  hold(request: FareHoldRequest, options?: ServiceRequestOptions): Promise<FareHold>;
  /** Voids the trip's hold (idempotent); null when nothing was held for it. */
  release(tripId: string, options?: ServiceRequestOptions): Promise<FareHold | null>;
}

export interface FareHoldRequest {
  tripId: string;
  riderId: string;
  amount: Money;
}

/** A trip's hold as the wallet reports it: AUTHORIZED while the money is held; VOIDED once released; CAPTURED once paid. */
export interface FareHold {
  tripId: string;
  status: string;
  amount: Money;
}

/** The one call a service client makes (platform/service-client.ts). */
export interface WalletRequester {
  request<T>(query: string, variables?: Record<string, unknown>, options?: ServiceRequestOptions): Promise<T>;
}

const HOLD = `mutation HoldTripFare($tripId: ID!, $riderId: ID!, $amount: MoneyInput!) {
  holdTripFare(tripId: $tripId, riderId: $riderId, amount: $amount) { tripId status amount { amount currency } }
}`;
const RELEASE = `mutation ReleaseTripFare($tripId: ID!) { releaseTripFare(tripId: $tripId) { tripId status amount { amount currency } } }`;

export function httpFareHolds(wallet: WalletRequester): FareHolds {
  return {
    async hold({ tripId, riderId, amount }, options) {
      return (await wallet.request<{ holdTripFare: FareHold }>(HOLD, { tripId, riderId, amount: { amount: amount.amount, currency: amount.currency } }, options)).holdTripFare;
    },
    async release(tripId, options) {
      return (await wallet.request<{ releaseTripFare: FareHold | null }>(RELEASE, { tripId }, options)).releaseTripFare;
    },
  };
}

/** The name space of booking trip ids (a fixed uuid: changing it would give retried bookings new trip ids). */
const BOOKING_NAMESPACE = Buffer.from('cd549d6906a841d1b6847279aed772f2', 'hex');

/**
 * The id of the trip a rider books with an idempotency key: a name-based (version 5, SHA-1) uuid of
 * (rider id, key), so every attempt of one booking — a retry after a timeout, ten copies racing, a
 * process that died between the wallet's hold and the insert — names the same trip, and the wallet's
 * hold (one per trip id) is taken once. Rider ids are uuids and keys never contain `:`, so two
 * different pairs never share a name.
 */
export function bookingTripId(riderId: string, idempotencyKey: string): string {
  const hash = createHash('sha1').update(BOOKING_NAMESPACE).update(`${riderId}:${idempotencyKey}`, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
