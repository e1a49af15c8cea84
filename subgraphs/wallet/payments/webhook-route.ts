/**
 * `POST /webhooks/payments`: the payment provider's deliveries. The signature is checked on the raw bytes
 * before anything is parsed; a forged, stale or malformed delivery is refused (400) and changes nothing;
 * a verified one is applied once (payments-service.ts) and answered 200, a duplicate included, so the
 * provider stops retrying. Only a failure on our side answers 5xx: the provider then delivers it again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes } from '../../../platform/errors.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { RouteHandler } from '../../../platform/server.ts';
import { WebhookSignatureError } from '../../../platform/webhook-signature.ts';
import type { PaymentsService } from './payments-service.ts';
import { MalformedWebhookError } from './provider.ts';

export const PAYMENT_WEBHOOK_PATH = '/webhooks/payments';
/** Provider events are a few hundred bytes; anything much larger is not one. */
const MAX_WEBHOOK_BYTES = 64 * 1024;

export function paymentWebhookRoute(payments: PaymentsService, logger: Logger): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return send(res, 405, { error: { code: 'BAD_USER_INPUT', message: 'Webhooks are POSTed.' } }, { allow: 'POST' });
    const provider = payments.provider;
    if (!provider) return send(res, 503, { error: { code: 'SERVICE_UNAVAILABLE', message: 'No payment provider is configured.' } });
    const raw = await readRaw(req);
    if (raw === null) return send(res, 413, { error: { code: 'BAD_USER_INPUT', message: 'The body is too large.' } });
    let parsed;
    try {
      parsed = provider.parseWebhook(raw, req.headers);
    } catch (error) {
      if (error instanceof WebhookSignatureError || error instanceof MalformedWebhookError) {
        // The sender learns only that it was refused; the log says why (never the body).
        logger.warn({ reason: error instanceof WebhookSignatureError ? error.reason : 'MALFORMED', message: error.message, bytes: raw.length }, 'payment webhook refused');
        return send(res, 400, { error: { code: 'BAD_USER_INPUT', message: 'The webhook signature or body is not valid.' } });
      }
      throw error;
    }
    try {
      const result = await payments.applyProviderEvent(parsed.event, parsed.signedAt);
      return send(res, 200, { received: true, ...result });
    } catch (error) {
      logger.error({ err: error, eventId: parsed.event.id }, 'payment webhook not applied; the provider will deliver it again');
      return send(res, 500, { error: { code: 'INTERNAL_SERVER_ERROR', message: ErrorCodes.INTERNAL_SERVER_ERROR.message } });
    }
  };
}

async function readRaw(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_WEBHOOK_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}
