/**
 * A payment gateway's sandbox that behaves like the real thing, for development and tests (the platform
 * cannot run a real gateway here). It serves a hosted checkout page; the person (or test) paying completes
 * or declines it there; the result arrives later as a webhook signed in Stripe's scheme
 * (`Sandbox-Signature: t=…,v1=…`), sometimes twice and sometimes late, as real gateways deliver them, and
 * is retried with backoff until the receiver answers 2xx. Payouts are answered the same way.
 *
 * It keeps no state of its own: a checkout session is a signed token in the checkout URL (so any wallet
 * replica can serve the page), and a payout's result is sent once it is asked for. Production refuses it
 * (platform/config.ts): whoever reaches its checkout page could pay themselves.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toMoney } from '../../../platform/money.ts';
import type { Logger } from '../../../platform/logger.ts';
import { z } from '../../../platform/validation.ts';
import { signWebhook, verifyWebhookSignature } from '../../../platform/webhook-signature.ts';
import { MalformedWebhookError, type CheckoutRequest, type PaymentProvider, type PayoutRequest, type ProviderEvent } from './provider.ts';

export const SANDBOX_SIGNATURE_HEADER = 'sandbox-signature';
export const SANDBOX_CHECKOUT_PATH = '/sandbox-payments/checkout';
/** How long a checkout page can be completed. */
const SESSION_TTL_MS = 30 * 60_000;
const MAX_FORM_BYTES = 4_096;

export interface SandboxProviderOptions {
  /** Signs webhooks (and checkout sessions); the wallet verifies with the same secret. */
  secret: string;
  /** Where checkout URLs point: the platform's public address (the router forwards the page to the wallet). */
  publicUrl: string;
  /** Where webhooks are delivered, read at each delivery (a wallet on port 0 knows its address only once listening). */
  webhookUrl: () => string;
  logger: Logger;
  /** Chance that an event is delivered twice (default 0.2). */
  duplicateRate?: number;
  /** Events wait up to this long before their first delivery (default 2,000 ms; 0 sends at once). */
  maxDelayMs?: number;
  /** Waits between delivery attempts while the receiver does not answer 2xx (default 1 s, 5 s, 30 s, 2 min). */
  retryDelaysMs?: readonly number[];
  /** Whether a payout fails; default: an amount whose last two minor digits are 13 (as gateways' test accounts fail on purpose). */
  payoutFails?: (request: PayoutRequest) => boolean;
  random?: () => number;
  now?: () => Date;
}

/** The body of a sandbox webhook, shaped like Stripe's events. */
const eventSchema = z.object({
  id: z.string().min(1).max(200),
  type: z.string().min(1).max(100),
  created: z.number().int(),
  data: z.object({
    object: z.object({
      id: z.string().min(1).max(200),
      amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
      currency: z.string().regex(/^[a-z]{3}$/),
      failure_message: z.string().max(300).nullish(),
      metadata: z.object({ smartline_id: z.string().max(200).optional() }).partial().nullish(),
    }),
  }),
});

const EVENT_TYPES: Record<string, Exclude<ProviderEvent['type'], 'OTHER'>> = {
  'payment_intent.succeeded': 'DEPOSIT_SUCCEEDED',
  'payment_intent.payment_failed': 'DEPOSIT_FAILED',
  'payout.paid': 'PAYOUT_PAID',
  'payout.failed': 'PAYOUT_FAILED',
};

interface Session {
  reference: string;
  intentId: string;
  amount: string;
  currency: string;
  description: string;
  expiresAt: number;
}

export class SandboxPaymentProvider implements PaymentProvider {
  readonly name = 'sandbox';
  readonly routes;
  readonly #options: Required<Omit<SandboxProviderOptions, 'payoutFails'>> & Pick<SandboxProviderOptions, 'payoutFails'>;
  readonly #inFlight = new Set<Promise<void>>();
  /** Sessions completed by this process (another replica would accept the form again: the wallet credits once anyway). */
  readonly #completed = new Set<string>();
  #closed = false;
  readonly #timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(options: SandboxProviderOptions) {
    this.#options = { duplicateRate: 0.2, maxDelayMs: 2_000, retryDelaysMs: [1_000, 5_000, 30_000, 120_000], random: Math.random, now: () => new Date(), ...options };
    this.routes = { [SANDBOX_CHECKOUT_PATH]: (req: IncomingMessage, res: ServerResponse) => this.#checkoutPage(req, res) };
  }

  async createCheckout(request: CheckoutRequest): Promise<{ providerReference: string; checkoutUrl: string }> {
    // The same intent always gets the same reference (the gateway's idempotency on our id).
    const providerReference = `pi_sandbox_${request.intentId.replaceAll('-', '')}`;
    const session: Session = {
      reference: providerReference,
      intentId: request.intentId,
      amount: String(request.amountMinor),
      currency: request.currency,
      description: request.description,
      expiresAt: this.#options.now().getTime() + SESSION_TTL_MS,
    };
    const url = new URL(SANDBOX_CHECKOUT_PATH, this.#options.publicUrl);
    url.searchParams.set('session', this.#seal(session));
    return { providerReference, checkoutUrl: url.toString() };
  }

  async createPayout(request: PayoutRequest): Promise<{ providerReference: string }> {
    const providerReference = `po_sandbox_${request.withdrawalId.replaceAll('-', '')}`;
    const fails = (this.#options.payoutFails ?? ((payout) => payout.amountMinor % 100n === 13n))(request);
    this.#send(fails ? 'payout.failed' : 'payout.paid', { id: providerReference, walletId: request.withdrawalId, amount: request.amountMinor, currency: request.currency, failure: fails ? 'The bank refused the transfer (sandbox).' : null });
    return { providerReference };
  }

  parseWebhook(rawBody: Buffer, headers: IncomingMessage['headers'], now?: Date): { event: ProviderEvent; signedAt: Date } {
    const signedAt = verifyWebhookSignature({ secret: this.#options.secret, rawBody, header: headers[SANDBOX_SIGNATURE_HEADER], now: now ?? this.#options.now() });
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch {
      throw new MalformedWebhookError('the body is not JSON');
    }
    const parsed = eventSchema.safeParse(json);
    if (!parsed.success) throw new MalformedWebhookError('the body is not a sandbox event');
    const { id, type, data } = parsed.data;
    const known = EVENT_TYPES[type];
    if (!known) return { signedAt, event: { id, type: 'OTHER', providerType: type, objectReference: data.object.id, walletReference: null, amountMinor: null, currency: null, failureReason: null } };
    return { signedAt, event: { id, type: known, objectReference: data.object.id, walletReference: data.object.metadata?.smartline_id ?? null, amountMinor: BigInt(data.object.amount), currency: data.object.currency.toUpperCase(), failureReason: data.object.failure_message ?? null } };
  }

  /** Resolves once every delivery started so far has ended (answered, or given up). Tests wait on it. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiting of this.#timers) {
      clearTimeout(waiting.timer);
      waiting.resolve();
    }
    await this.idle();
  }

  // ── the hosted checkout page ──────────────────────────────────────────────────────────────────

  async #checkoutPage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (req.method === 'GET') {
      const session = this.#open(url.searchParams.get('session'));
      if (!session) return page(res, 410, 'This checkout link is invalid or has expired.');
      const amount = `${toMoney(BigInt(session.amount), session.currency).amount} ${session.currency}`;
      return page(
        res,
        200,
        `<p>${escapeHtml(session.description)}</p><p class="amount">${escapeHtml(amount)}</p>
        <form method="post"><input type="hidden" name="session" value="${escapeHtml(url.searchParams.get('session')!)}">
        <button name="outcome" value="succeed">Pay ${escapeHtml(amount)}</button> <button name="outcome" value="fail">Decline (test a failed payment)</button></form>`,
      );
    }
    if (req.method !== 'POST') return page(res, 405, 'Method not allowed.');
    const form = await readForm(req);
    const session = this.#open(form?.get('session') ?? null);
    const outcome = form?.get('outcome');
    if (!session || (outcome !== 'succeed' && outcome !== 'fail')) return page(res, 400, 'This checkout link is invalid or has expired.');
    if (this.#completed.has(session.reference)) return page(res, 409, 'This payment was already completed.');
    this.#completed.add(session.reference);
    const failure = outcome === 'fail' ? 'Your card was declined (sandbox).' : null;
    this.#send(failure ? 'payment_intent.payment_failed' : 'payment_intent.succeeded', { id: session.reference, walletId: session.intentId, amount: BigInt(session.amount), currency: session.currency, failure });
    return page(res, 200, failure ? 'The payment was declined. You can close this page.' : 'Payment received. Your wallet is credited in a moment; you can close this page.');
  }

  #seal(session: Session): string {
    const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
    return `${payload}.${this.#mac(payload)}`;
  }

  #open(token: string | null): Session | null {
    if (!token || token.length > 2_000) return null;
    const [payload, mac] = token.split('.');
    if (!payload || !mac || mac.length !== 43) return null;
    const expected = Buffer.from(this.#mac(payload));
    if (!timingSafeEqual(Buffer.from(mac), expected)) return null;
    const session = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Session;
    return session.expiresAt > this.#options.now().getTime() ? session : null;
  }

  #mac(payload: string): string {
    return createHmac('sha256', `checkout:${this.#options.secret}`).update(payload).digest('base64url');
  }

  // ── webhooks ──────────────────────────────────────────────────────────────────────────────────

  /** Delivers an event (after a random delay, sometimes twice), retrying until a 2xx or the last try. */
  #send(type: string, object: { id: string; walletId: string; amount: bigint; currency: string; failure: string | null }) {
    if (this.#closed) return;
    const event = {
      id: `evt_sandbox_${randomBytes(12).toString('hex')}`,
      type,
      created: Math.floor(this.#options.now().getTime() / 1000),
      data: { object: { id: object.id, amount: Number(object.amount), currency: object.currency.toLowerCase(), failure_message: object.failure, metadata: { smartline_id: object.walletId } } },
    };
    const body = JSON.stringify(event);
    const copies = this.#options.random() < this.#options.duplicateRate ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const delivery = this.#deliver(event.id, body, Math.floor(this.#options.random() * this.#options.maxDelayMs)).finally(() => this.#inFlight.delete(delivery));
      this.#inFlight.add(delivery);
    }
  }

  async #deliver(eventId: string, body: string, delayMs: number): Promise<void> {
    const waits = [delayMs, ...this.#options.retryDelaysMs];
    for (let attempt = 0; attempt < waits.length; attempt++) {
      if (waits[attempt]! > 0) await this.#wait(waits[attempt]!);
      if (this.#closed) return;
      const url = this.#options.webhookUrl();
      try {
        // Signed at each attempt, as gateways do: a retry is never stale.
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: signWebhook(this.#options.secret, body, this.#options.now()) }, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
        await response.arrayBuffer();
        if (response.ok) return;
        this.#options.logger.warn({ eventId, url, status: response.status, attempt: attempt + 1 }, 'sandbox webhook refused; retrying');
      } catch (error) {
        this.#options.logger.warn({ eventId, url, err: error, attempt: attempt + 1 }, 'sandbox webhook not delivered; retrying');
      }
    }
    this.#options.logger.error({ eventId }, 'sandbox webhook given up after the last try');
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiting = { timer: setTimeout(() => (this.#timers.delete(waiting), resolve()), ms), resolve };
      waiting.timer.unref();
      this.#timers.add(waiting);
    });
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return null;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function page(res: ServerResponse, status: number, content: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    'x-frame-options': 'DENY',
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>SmartLine sandbox checkout</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}.amount{font-size:2rem;font-weight:600}button{font-size:1rem;padding:.6rem 1rem;margin:.3rem 0}</style></head>
<body><h1>Sandbox checkout</h1><p><em>Test payments only: no card is charged.</em></p>${content}</body></html>`);
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
