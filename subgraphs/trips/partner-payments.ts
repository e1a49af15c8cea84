import type { Money } from '../../platform/money.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';
import type { FareHold, WalletRequester } from './payments.ts';

/**
 * What a partner booking needs from the wallet: the fare held on the partner organisation's ledger
 * account (kind PARTNER, postpaid within its credit limit) before the trip is written, and given back
 * when the booking is refused after it. The hold is the same as a WALLET trip's (one per trip id, code
 * TRIP_FARE, to trip clearing), so settlement posts or voids it alike; only the payer differs.
 */
export interface PartnerFareHolds {
  /**
   * Holds `amount` on the partner's account for the trip. One hold per trip id (the same call answers the
   * same hold). CREDIT_LIMIT_EXCEEDED when the partner's outstanding plus held amounts would pass its
   * credit limit; CONFLICT when the trip id already holds another amount or payer; SERVICE_UNAVAILABLE
   * when the wallet did not answer.
   */
  hold(request: PartnerFareHoldRequest, options?: ServiceRequestOptions): Promise<FareHold>;
  /** Voids the trip's hold (idempotent); null when nothing was held for it. */
  release(tripId: string, options?: ServiceRequestOptions): Promise<FareHold | null>;
}

export interface PartnerFareHoldRequest {
  tripId: string;
  partnerId: string;
  amount: Money;
}

const HOLD = `mutation HoldPartnerTripFare($tripId: ID!, $partnerId: ID!, $amount: MoneyInput!) {
  holdPartnerTripFare(tripId: $tripId, partnerId: $partnerId, amount: $amount) { tripId status amount { amount currency } }
}`;
const RELEASE = `mutation ReleaseTripFare($tripId: ID!) { releaseTripFare(tripId: $tripId) { tripId status amount { amount currency } } }`;

/** The wallet's partner holds over HTTP (service token, `@inaccessible` fields). */
export function httpPartnerFareHolds(wallet: WalletRequester): PartnerFareHolds {
  return {
    async hold({ tripId, partnerId, amount }, options) {
      const variables = { tripId, partnerId, amount: { amount: amount.amount, currency: amount.currency } };
      return (await wallet.request<{ holdPartnerTripFare: FareHold }>(HOLD, variables, options)).holdPartnerTripFare;
    },
    async release(tripId, options) {
      return (await wallet.request<{ releaseTripFare: FareHold | null }>(RELEASE, { tripId }, options)).releaseTripFare;
    },
  };
}

/**
 * Accounts owns users: a partner's guest is a RIDER user found by phone, or created (with no usable
 * password) on their first booking. BAD_USER_INPUT for a phone or name accounts refuses; CONFLICT when
 * the phone belongs to a user who is not a rider.
 */
export interface GuestRiders {
  guestRider(guest: { phone: string; name: string }, options?: ServiceRequestOptions): Promise<{ userId: string; created: boolean }>;
}

const GUEST_RIDER = `mutation GuestRider($phone: String!, $name: String!) { guestRider(phone: $phone, name: $name) { userId created } }`;

export function httpGuestRiders(accounts: WalletRequester): GuestRiders {
  return {
    async guestRider({ phone, name }, options) {
      return (await accounts.request<{ guestRider: { userId: string; created: boolean } }>(GUEST_RIDER, { phone, name }, options)).guestRider;
    },
  };
}
