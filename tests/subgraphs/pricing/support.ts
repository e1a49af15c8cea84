import { getMany, hashTag, redisNamespace, scanKeys } from '../../../platform/redis.ts';
import { createLogger } from '../../../platform/logger.ts';
import { loadQuoteSigningSecret } from '../../../platform/quote-token.ts';
import { createPricingSubgraph } from '../../../subgraphs/pricing/index.ts';
import { deserializeQuote, type QuoteRecord } from '../../../subgraphs/pricing/quotes.ts';
import { dataOf } from '../../support/client.ts';
import { startStack, type Stack, type StackOptions, type TestUser } from '../../support/stack.ts';

/** A clock the test moves by hand: prices, time-of-day windows and surge all read it. */
export class TestClock {
  #ms: number;
  constructor(start: Date | string) {
    this.#ms = new Date(start).getTime();
  }
  readonly now = () => new Date(this.#ms);
  set(at: Date | string) {
    this.#ms = new Date(at).getTime();
  }
  advance(ms: number) {
    this.#ms += ms;
  }
}

/** Cairo local time in January 2026 (UTC+2): Sunday the 4th is a work day, Friday the 9th and Saturday the 10th are the weekend. */
export const cairoJanuary = (day: number, time: string) => new Date(`2026-01-${String(day).padStart(2, '0')}T${time}:00+02:00`);

/** A stack whose pricing subgraph runs on `clock`; surge is recomputed only when a test says so. */
export function startPricingStack(clock: TestClock, options: StackOptions = {}): Promise<Stack> {
  return startStack({
    subgraphs: ['pricing'],
    ...options,
    env: { SURGE_INTERVAL_MS: String(24 * 3_600_000), ...options.env },
    setups: { pricing: createPricingSubgraph({ now: clock.now }), ...options.setups },
  });
}

export const FARE_ESTIMATES = `query FareEstimates($pickup: LatLngInput!, $dropoff: LatLngInput!, $vehicleTypes: [VehicleType!]) {
  fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: $vehicleTypes) {
    id vehicleType fare { amount currency }
    breakdown {
      baseFare { amount currency } distanceFare { amount } timeFare { amount } minimumFareTopUp { amount }
      timeOfDayAmount { amount } surgeAmount { amount } bookingFee { amount } rounding { amount }
    }
    surgeMultiplier timeOfDayMultiplier cancellationFee { amount currency }
    distanceM durationS pickup { lat lng } dropoff { lat lng } expiresAt
  }
}`;

/** Tahrir Square to Zamalek: 2 431 m straight, 3 161 m by the estimated road (455 s at 25 km/h). */
export const PICKUP = { lat: 30.0444, lng: 31.2357 };
export const DROPOFF = { lat: 30.0626, lng: 31.2497 };

export async function estimate(stack: Stack, user: TestUser, variables: Record<string, unknown> = {}) {
  return dataOf(await stack.query(FARE_ESTIMATES, { pickup: PICKUP, dropoff: DROPOFF, ...variables }, { token: user.accessToken })).fareEstimates;
}

export function quoteSecret(stack: Stack): string {
  const config = stack.config('pricing');
  return loadQuoteSigningSecret(config, createLogger(config));
}

/** Exact decimal strings to minor units (two digits), for sums. */
export const minor = (amount: string) => {
  const [whole, fraction = ''] = amount.replace('-', '').split('.');
  const value = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
  return amount.startsWith('-') ? -value : value;
};

/** Every line of a quote's breakdown, summed, in minor units. */
export function breakdownTotal(quote: { breakdown: Record<string, { amount: string }> }): bigint {
  return Object.values(quote.breakdown).reduce((sum, line) => sum + minor(line.amount), 0n);
}

/** Pricing's Redis keys of this stack's quotes. */
export function quoteKeyPrefix(stack: Stack): string {
  return `smartline:pricing:${redisNamespace(stack.config('pricing'))}:quote:`;
}

/** Pricing's Redis key of one quote (tagged by the quote). */
export function quoteKey(stack: Stack, quoteId: string): string {
  return quoteKeyPrefix(stack) + hashTag(quoteId);
}

/** The quotes this stack holds in Redis (all of them: the namespace is the stack's own). */
export async function redisQuotes(stack: Stack): Promise<QuoteRecord[]> {
  const redis = stack.subgraph('pricing').redis!;
  const keys: string[] = [];
  for await (const batch of scanKeys(redis, `${quoteKeyPrefix(stack)}*`)) keys.push(...batch);
  if (keys.length === 0) return [];
  return (await getMany(redis, keys)).map((raw) => deserializeQuote(raw!)!).filter(Boolean);
}

/** Polls `probe` until it returns something other than undefined, for at most `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
