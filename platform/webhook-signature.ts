/**
 * Webhook signatures in Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
 * The payment provider signs what it sends the wallet this way, and the platform signs what it sends
 * partners the same way. Verification works on the raw bytes, before anything is parsed: a body that was
 * re-serialised would not verify. Hand-written (a dozen lines over node:crypto) because Stripe's SDK
 * verifies only with Stripe's own header name and brings its whole HTTP client along.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How old a signed timestamp may be (either way) before the delivery is refused as stale or replayed. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** Why a signature was refused: each is logged; the sender only learns that it was refused. */
export type SignatureRefusal = 'MISSING' | 'MALFORMED' | 'STALE' | 'MISMATCH';

export class WebhookSignatureError extends Error {
  readonly reason: SignatureRefusal;
  constructor(reason: SignatureRefusal, message: string) {
    super(message);
    this.name = 'WebhookSignatureError';
    this.reason = reason;
  }
}

const hmac = (secret: string, timestamp: number, rawBody: Buffer | string) => createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();

/** The signature header's value for `rawBody` sent at `now`. */
export function signWebhook(secret: string, rawBody: Buffer | string, now: Date = new Date()): string {
  const timestamp = Math.floor(now.getTime() / 1000);
  return `t=${timestamp},v1=${hmac(secret, timestamp, rawBody).toString('hex')}`;
}

/**
 * Checks `header` against `rawBody`: a `t` within the tolerance of `now` and one `v1` that is the HMAC
 * under `secret` (several `v1` are accepted, as Stripe sends while a secret is rolled). Throws
 * WebhookSignatureError; answers the signed time.
 */
export function verifyWebhookSignature(options: { secret: string; rawBody: Buffer | string; header: string | string[] | undefined; now?: Date; toleranceSeconds?: number }): Date {
  const { secret, rawBody, header } = options;
  if (typeof header !== 'string' || header.length === 0) throw new WebhookSignatureError('MISSING', 'no signature header');
  if (header.length > 1_000) throw new WebhookSignatureError('MALFORMED', 'the signature header is too long');
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) throw new WebhookSignatureError('MALFORMED', 'the signature header has no timestamp or no v1 signature');
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowSeconds - timestamp) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) throw new WebhookSignatureError('STALE', 'the signed timestamp is outside the tolerance');
  const expected = hmac(secret, timestamp, rawBody);
  if (!signatures.some((signature) => timingSafeEqual(signature, expected))) throw new WebhookSignatureError('MISMATCH', 'no signature matches the body');
  return new Date(timestamp * 1000);
}
