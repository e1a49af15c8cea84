import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ServiceConfig } from './config.ts';
import type { Logger } from './logger.ts';

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
  if (config.quoteSigningSecret) return config.quoteSigningSecret;
  if (config.production) throw new Error('QUOTE_SIGNING_SECRET is required in production');
  const file = path.resolve(config.dataDir, 'keys', 'quote-signing.secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    logger.info({ file }, 'generated a development quote signing secret');
    return secret;
  } catch {
    return readFileSync(file, 'utf8').trim(); // another process of this checkout wrote it first
  }
}
