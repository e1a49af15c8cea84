import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ServiceConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { loadOrCreateSecret } from './secrets.ts';

/**
 * A quote id is the quote itself, signed: pricing issues it, trips verifies it without reading
 * pricing's tables (each subgraph owns its data). The client never sends a price, only this id.
 */
export interface QuoteClaims {
  /** The quote's own id (uuid), the key of pricing's stored row. */
  quoteId: string;
  riderId: string;
  vehicleType: 'ECONOMY' | 'COMFORT' | 'PREMIUM' | 'XL';
  pickup: { lat: number; lng: number };
  dropoff: { lat: number; lng: number };
  /** Fare in minor units, as a decimal integer string. */
  fareMinor: string;
  currency: string;
  distanceM: number;
  durationS: number;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The platform's commission on this fare in basis points (1500 = 15 %): trips charges fare × bps / 10 000, half-up. */
  commissionBps: number;
  /** What a late cancellation costs the rider, minor units of `currency`, as a decimal integer string. */
  cancellationFeeMinor: string;
  /** The surge the fare includes, exact two-decimal string ("1.30"). */
  surgeMultiplier: string;
  /** The res-8 H3 cell of the pickup. */
  h3Cell: string;
  /**
   * The rest of the quote, so pricing can rebuild it from its id alone when neither Redis nor Postgres
   * holds it (a Redis loss between issue and booking). Absent from tokens issued before they were added:
   * those resolve only while stored. Trips ignores them.
   */
  breakdown?: QuoteBreakdownClaims;
  /** The time-of-day multiplier the fare includes, exact two-decimal string ("1.20"). */
  timeOfDayMultiplier?: string;
  /** The price list the fare was computed with (null when not computed from one). */
  fareRuleId?: string | null;
  /** When the quote was issued, epoch milliseconds. */
  issuedAt?: number;
}

/** A fare's lines in minor units of the quote's currency, as decimal integer strings (rounding may be negative). */
export interface QuoteBreakdownClaims {
  baseMinor: string;
  distanceMinor: string;
  timeMinor: string;
  bookingFeeMinor: string;
  minimumTopUpMinor: string;
  timeOfDayMinor: string;
  surgeMinor: string;
  roundingMinor: string;
}

export function signQuote(claims: QuoteClaims, secret: string): string {
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  return `${payload}.${mac(payload, secret)}`;
}

/** The claims when the signature is ours; null for anything tampered with or malformed. Expiry is the caller's check. */
export function verifyQuote(token: string, secret: string): QuoteClaims | null {
  const [payload, signature, ...rest] = token.split('.');
  if (!payload || !signature || rest.length > 0) return null;
  const expected = Buffer.from(mac(payload, secret), 'base64url');
  const actual = Buffer.from(signature, 'base64url');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as QuoteClaims;
  } catch {
    return null;
  }
}

const mac = (payload: string, secret: string) => createHmac('sha256', secret).update(payload).digest('base64url');

/** QUOTE_SIGNING_SECRET, or outside production one generated once under DATA_DIR/keys (shared by pricing and trips). */
export function loadQuoteSigningSecret(config: ServiceConfig, logger: Logger): string {
  return loadOrCreateSecret(config, logger, { value: config.quoteSigningSecret, variable: 'QUOTE_SIGNING_SECRET', file: 'quote-signing.secret', description: 'quote signing secret' });
}
