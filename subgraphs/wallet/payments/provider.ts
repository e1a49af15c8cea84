/**
 * The payment provider as the wallet sees it: a gateway that takes card payments on a hosted checkout
 * page, pays out to drivers, and reports both asynchronously by signed webhooks. The shape follows the
 * gateways the platform would use (Stripe's Checkout Sessions, Payment Intents and Payouts; Paymob and
 * Fawry in Egypt look the same from here): the wallet keeps its own ids and the provider's reference, and
 * only a verified webhook moves money.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteHandler } from '../../../platform/server.ts';

export interface CheckoutRequest {
  /** The wallet's payment intent id: the provider's idempotency key for this checkout. */
  intentId: string;
  amountMinor: bigint;
  currency: string;
  description: string;
}

export interface PayoutRequest {
  /** The wallet's withdrawal id: the provider's idempotency key for this payout. */
  withdrawalId: string;
  /** Whose payout destination (the provider keeps the driver's bank details, never the platform). */
  recipientId: string;
  amountMinor: bigint;
  currency: string;
}

/** What a verified webhook tells the wallet, in the wallet's words. */
export type ProviderEvent =
  | {
      id: string;
      type: 'DEPOSIT_SUCCEEDED' | 'DEPOSIT_FAILED';
      /** The provider's reference of the payment (createCheckout's providerReference). */
      objectReference: string;
      /** The wallet's own id, as the provider echoes it back (Stripe's metadata): the intent's. */
      walletReference: string | null;
      amountMinor: bigint;
      currency: string;
      failureReason: string | null;
    }
  | {
      id: string;
      type: 'PAYOUT_PAID' | 'PAYOUT_FAILED';
      objectReference: string;
      /** The withdrawal's id, echoed back: an event may arrive before the payout's reference was stored. */
      walletReference: string | null;
      amountMinor: bigint;
      currency: string;
      failureReason: string | null;
    }
  /** Anything else the provider sends: recorded and acknowledged, never acted on. */
  | { id: string; type: 'OTHER'; providerType: string; objectReference: string | null; walletReference: null; amountMinor: null; currency: null; failureReason: null };

export interface PaymentProvider {
  /** Stored with every intent, payout and event (`sandbox`). */
  readonly name: string;
  /** Opens a hosted checkout for a deposit. Calling it again for the same intent id answers the same checkout. */
  createCheckout(request: CheckoutRequest): Promise<{ providerReference: string; checkoutUrl: string }>;
  /** Starts a payout; its result arrives later by webhook. Again for the same withdrawal id: the same payout. */
  createPayout(request: PayoutRequest): Promise<{ providerReference: string }>;
  /**
   * Verifies a webhook delivery on its raw bytes (signature, timestamp tolerance) and only then parses it.
   * Throws WebhookSignatureError (platform/webhook-signature.ts) for a forged or stale delivery and
   * MalformedWebhookError for a signed body that is not an event.
   */
  parseWebhook(rawBody: Buffer, headers: IncomingHttpHeaders, now?: Date): { event: ProviderEvent; signedAt: Date };
  /** HTTP routes the provider serves from the wallet (the sandbox's hosted checkout page). */
  readonly routes?: Record<string, RouteHandler>;
  /** Stops deliveries in flight (a sandbox's own webhooks). */
  close(): Promise<void>;
}

export class MalformedWebhookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedWebhookError';
  }
}
