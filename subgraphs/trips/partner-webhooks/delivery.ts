/**
 * The delivery worker of outgoing webhooks: on a timer (unref'd; stopped with the subgraph) it claims
 * due deliveries (`for update skip locked` with a lease, so every replica can run it) and POSTs each to
 * its partner's endpoint, signed with the endpoint's secret (`SmartLine-Signature: t=…,v1=…`, as
 * platform/webhook-signature.ts verifies). A 2xx answer delivers it; anything else (another status, a
 * redirect, a timeout, a refused connection) is retried after the next delay of the schedule, and the
 * delivery is DEAD after the last try (admins list and retry it). Redirects are not followed; only a
 * short excerpt of a failing answer's body is kept.
 */
import type { EntityManager } from '../../../platform/db.ts';
import { runInBackground } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';
import { signWebhook } from '../../../platform/webhook-signature.ts';
import type { ClaimedDelivery, PartnerWebhookRepository } from './repository.ts';

export const SIGNATURE_HEADER = 'SmartLine-Signature';
export const EVENT_ID_HEADER = 'SmartLine-Event-Id';

/** Delays between tries: the first try, then one per delay; DEAD after the last. */
export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 3_600_000] as const;

export interface DeliveryWorkerOptions {
  /** Delays between tries (default 5 s, 30 s, 2 min, 10 min, 1 h: six tries in all). */
  retryDelaysMs?: readonly number[];
  /** How often the worker looks for due deliveries (default 1 s). */
  pollMs?: number;
  /** Each POST's bound, connection to last byte (default 5 s). */
  timeoutMs?: number;
  /** Deliveries claimed per run (default 20). */
  batchSize?: number;
  /** Don't start the timer (tests call runOnce). */
  manual?: boolean;
}

const ERROR_EXCERPT_CHARS = 200;

export class DeliveryWorker {
  readonly #db: { fork(): EntityManager };
  readonly #repository: PartnerWebhookRepository;
  readonly #logger: Logger;
  readonly #delays: readonly number[];
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #batchSize: number;
  readonly #manual: boolean;
  readonly #inFlight = new Set<AbortController>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;

  constructor(options: DeliveryWorkerOptions & { db: { fork(): EntityManager }; repository: PartnerWebhookRepository; logger: Logger }) {
    this.#db = options.db;
    this.#repository = options.repository;
    this.#logger = options.logger;
    this.#delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#batchSize = options.batchSize ?? 20;
    this.#manual = options.manual ?? false;
  }

  /** The lease of a claimed delivery: longer than a POST may take, so nobody else sends it meanwhile. */
  get #leaseMs(): number {
    return this.#timeoutMs * 2 + 5_000;
  }

  start(): void {
    if (this.#manual || this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => {
      this.runOnce().catch((error) => this.#logger.error({ err: error }, 'webhook delivery run failed'));
    }, this.#pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const controller of this.#inFlight) controller.abort();
    await this.#running?.catch(() => undefined);
  }

  /** One pass: claims what is due and sends it; answers how many were attempted. Overlapping calls share the pass. */
  runOnce(): Promise<number> {
    if (this.#stopped) return Promise.resolve(0);
    // Background work: the per-request statement accounting (tests) does not count it.
    this.#running ??= runInBackground(() => this.#pass()).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<number> {
    const claimed = await this.#db.fork().transactional((em) => this.#repository.claimDue(em, this.#batchSize, this.#leaseMs));
    if (claimed.length === 0) return 0;
    // One partner's deliveries in event order, one after another; partners side by side.
    const byPartner = new Map<string, ClaimedDelivery[]>();
    for (const delivery of claimed) byPartner.set(delivery.partnerId, [...(byPartner.get(delivery.partnerId) ?? []), delivery]);
    await Promise.all([...byPartner.values()].map(async (deliveries) => {
      for (const delivery of deliveries) await this.#deliver(delivery);
    }));
    return claimed.length;
  }

  async #deliver(delivery: ClaimedDelivery): Promise<void> {
    const url = delivery.endpointUrl;
    const outcome = await this.#post(url, delivery);
    const em = this.#db.fork();
    if (outcome.ok) {
      await this.#repository.markDelivered(em, delivery.id, delivery.attempts, url, outcome.statusCode!);
      this.#logger.debug({ delivery: delivery.id, event: delivery.eventId, attempts: delivery.attempts }, 'webhook delivered');
      return;
    }
    const delay = delivery.attempts <= this.#delays.length ? this.#delays[delivery.attempts - 1]! : null;
    await this.#repository.markFailed(em, delivery.id, delivery.attempts, url, { error: outcome.error, statusCode: outcome.statusCode }, delay);
    this.#logger[delay === null ? 'warn' : 'info']({ delivery: delivery.id, event: delivery.eventId, partnerId: delivery.partnerId, attempts: delivery.attempts, error: outcome.error, dead: delay === null }, 'webhook delivery failed');
  }

  async #post(url: string, delivery: ClaimedDelivery): Promise<{ ok: boolean; statusCode: number | null; error: string }> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.#timeoutMs} ms`)), this.#timeoutMs);
    try {
      const response = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'SmartLine-Webhooks/1',
          [SIGNATURE_HEADER]: signWebhook(delivery.secret, delivery.body),
          [EVENT_ID_HEADER]: delivery.eventId,
        },
        body: delivery.body,
      });
      const ok = response.status >= 200 && response.status < 300;
      const excerpt = ok ? '' : await excerptOf(response);
      if (ok) await response.body?.cancel().catch(() => undefined);
      return { ok, statusCode: response.status, error: ok ? '' : `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}` };
    } catch (error) {
      const reason = controller.signal.aborted ? (controller.signal.reason as Error | undefined)?.message ?? 'aborted' : ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      return { ok: false, statusCode: null, error: String(reason).slice(0, ERROR_EXCERPT_CHARS) };
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }
}

/** The first few hundred characters of an answer's body; the rest is never read. */
async function excerptOf(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  try {
    const { value } = await reader.read();
    return value ? Buffer.from(value).toString('utf8', 0, Math.min(value.length, ERROR_EXCERPT_CHARS)).replace(/\s+/g, ' ').trim() : '';
  } catch {
    return '';
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
