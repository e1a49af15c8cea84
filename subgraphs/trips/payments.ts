import { createHash } from 'node:crypto';
import { Batcher } from '../../platform/batcher.ts';
import { AppError } from '../../platform/errors.ts';
import type { Money } from '../../platform/money.ts';
import { calleeError, type ServiceRequestOptions } from '../../platform/service-client.ts';

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

/**
 * How holds are sent: the holds of bookings arriving together go in one `holdTripFares` call (one HTTP
 * request, one GraphQL execution and one ledger batch in the wallet for all of them), group commit as
 * platform/batcher.ts does it: no timer, so a lone hold goes at the next turn and batches grow with the load.
 */
export interface FareHoldBatching {
  /** Most holds in one call (the wallet takes at most 200). Default 200. */
  maxBatch?: number;
  /**
   * Calls to the wallet at once. Holds asked while they are all in flight wait and go together in the
   * next, so under load a call carries whatever arrived during the previous one. Default 1.
   */
  maxInFlight?: number;
}

const HOLDS = `mutation HoldTripFares($holds: [TripFareHoldInput!]!) {
  holdTripFares(holds: $holds) { tripId hold { tripId status amount { amount currency } } error { code message reason } }
}`;
const RELEASE = `mutation ReleaseTripFare($tripId: ID!) { releaseTripFare(tripId: $tripId) { tripId status amount { amount currency } } }`;

interface HoldResult {
  tripId: string;
  hold: FareHold | null;
  error: { code: string; message: string; reason: string | null } | null;
}

interface AskedHold {
  request: FareHoldRequest;
  options: ServiceRequestOptions | undefined;
}

/**
 * The wallet's fare holds over HTTP. Holds are coalesced (`FareHoldBatching`); each booking still gets
 * its own answer: its hold, or the wallet's refusal of it as an AppError with the wallet's code
 * (INSUFFICIENT_FUNDS, CONFLICT with its reason, ...), as `holdTripFare` would have thrown it. When the
 * call itself fails (SERVICE_UNAVAILABLE: the wallet did not answer), every hold in it fails with it.
 */
export function httpFareHolds(wallet: WalletRequester, batching: FareHoldBatching = {}): FareHolds {
  const holds = new Batcher<AskedHold, HoldResult>((batch) => sendHolds(wallet, batch), {
    maxBatchSize: Math.min(batching.maxBatch ?? 200, 200),
    maxInFlight: batching.maxInFlight ?? 1,
    onBatchFailure: 'fail-all',
  });
  return {
    async hold(request, options) {
      const result = await holds.submit({ request, options });
      if (result.hold) return result.hold;
      if (!result.error) throw new AppError('INTERNAL_SERVER_ERROR', 'The wallet answered no outcome for this hold.', { service: 'wallet' });
      const { code, message, reason } = result.error;
      throw calleeError('wallet', code, message, reason ? { reason } : {});
    },
    async release(tripId, options) {
      return (await wallet.request<{ releaseTripFare: FareHold | null }>(RELEASE, { tripId }, options)).releaseTripFare;
    },
  };
}

async function sendHolds(wallet: WalletRequester, batch: readonly AskedHold[]): Promise<HoldResult[]> {
  const variables = { holds: batch.map(({ request: { tripId, riderId, amount } }) => ({ tripId, riderId, amount: { amount: amount.amount, currency: amount.currency } })) };
  return (await wallet.request<{ holdTripFares: HoldResult[] }>(HOLDS, variables, callOptions(batch))).holdTripFares;
}

/**
 * A call on behalf of one booking carries its request id, trace and deadline; one for several, the
 * longest timeout and the latest deadline asked (a booking whose own deadline passed first still
 * completes here; its client, told DEADLINE_EXCEEDED by the router, retries with its key and gets the
 * same trip).
 */
function callOptions(batch: readonly AskedHold[]): ServiceRequestOptions | undefined {
  if (batch.length === 1) return batch[0]!.options;
  const timeouts = batch.flatMap((waiting) => (waiting.options?.timeoutMs === undefined ? [] : [waiting.options.timeoutMs]));
  const deadlines = batch.map((waiting) => waiting.options?.deadline);
  const deadline = deadlines.every((each) => each !== undefined) ? Math.max(...(deadlines as number[])) : undefined;
  const options: ServiceRequestOptions = { ...(timeouts.length > 0 ? { timeoutMs: Math.max(...timeouts) } : {}), ...(deadline !== undefined ? { deadline } : {}) };
  return Object.keys(options).length > 0 ? options : undefined;
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
