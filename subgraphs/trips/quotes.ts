import { AppError } from '../../platform/errors.ts';
import { minorDigits } from '../../platform/money.ts';
import { verifyQuote, type QuoteClaims } from '../../platform/quote-token.ts';
import { quoteClaimsSchema } from './validation.ts';

/**
 * Why a quote was refused, in `extensions.reason` of a QUOTE_INVALID error:
 * INVALID (not a quote pricing signed: tampered with or malformed), EXPIRED, WRONG_RIDER (issued to
 * another rider), USED (it already booked a trip).
 */
export const QUOTE_INVALID_REASONS = ['INVALID', 'EXPIRED', 'WRONG_RIDER', 'USED'] as const;
export type QuoteInvalidReason = (typeof QUOTE_INVALID_REASONS)[number];

const MESSAGES: Record<QuoteInvalidReason, string> = {
  INVALID: 'The quote is not valid.',
  EXPIRED: 'The quote has expired; ask for a new fare estimate.',
  WRONG_RIDER: 'The quote was issued to someone else.',
  USED: 'The quote has already been used to request a trip.',
};

export function quoteInvalid(reason: QuoteInvalidReason): AppError {
  return new AppError('QUOTE_INVALID', MESSAGES[reason], { reason });
}

/** The claims of a quote token signed with our secret and readable by this release; QUOTE_INVALID (INVALID) otherwise. */
export function readQuote(token: string, secret: string): QuoteClaims {
  const claims = verifyQuote(token, secret);
  const parsed = quoteClaimsSchema.safeParse(claims);
  if (!parsed.success || !supportedCurrency(parsed.data.currency)) throw quoteInvalid('INVALID');
  return parsed.data;
}

/** Refuses a quote issued to another rider, or one past its expiry. */
export function assertUsableBy(claims: QuoteClaims, riderId: string, now: Date = new Date()): void {
  if (claims.riderId !== riderId) throw quoteInvalid('WRONG_RIDER');
  if (claims.expiresAt <= now.getTime()) throw quoteInvalid('EXPIRED');
}

/** Whether `assertUsableBy` would let the quote through. */
export function isUsableBy(claims: QuoteClaims, riderId: string, now: Date = new Date()): boolean {
  return claims.riderId === riderId && claims.expiresAt > now.getTime();
}

function supportedCurrency(currency: string): boolean {
  try {
    minorDigits(currency);
    return true;
  } catch {
    return false;
  }
}
