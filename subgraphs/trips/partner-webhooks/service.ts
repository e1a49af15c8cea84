/**
 * Outgoing webhooks: a partner organisation registers one endpoint (setPartnerWebhook) and receives its
 * trips' status changes there, signed as the platform verifies incoming payment webhooks
 * (platform/webhook-signature.ts). This file holds the endpoint's rules, the admins' reads and the
 * consumer of trips' own events that turns a partner trip's event into a delivery row (delivery.ts sends).
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Principal } from '../../../platform/auth.ts';
import type { EntityManager } from '../../../platform/db.ts';
import { badUserInput, conflict, forbidden, notFound } from '../../../platform/errors.ts';
import { TripCancelled, TripCompleted, TripDriverArrived, TripMatched, TripRequested, TripStarted } from '../../../platform/events/contracts/index.ts';
import type { EventBus, EventOf } from '../../../platform/events/index.ts';
import { toMoney } from '../../../platform/money.ts';
import { encodeCursor, type Connection } from '../../../platform/pagination.ts';
import { isUuid, pageSizeSchema, parseInput, z } from '../../../platform/validation.ts';
import { DELIVERY_STATUSES, PartnerWebhookRepository, type DeliveryRow, type NewDelivery, type PartnerWebhookRow } from './repository.ts';

/** The consumer group trips reads its own stream with for webhooks (its parked events are in trips' dead_events under this name). */
export const PARTNER_WEBHOOKS_CONSUMER = 'partner-webhooks';

/** The `type` of every body sent. */
export const WEBHOOK_EVENT_TYPE = 'trip.status_changed';

export const MAX_WEBHOOK_URL_LENGTH = 2_000;

const TRIP_CONTRACTS = [TripRequested, TripMatched, TripDriverArrived, TripStarted, TripCompleted, TripCancelled] as const;
type TripEvent = EventOf<(typeof TRIP_CONTRACTS)[number]>;

/** What an endpoint looks like to its partner: the secret only right after it was made. */
export interface PartnerWebhookView {
  url: string;
  secret: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The body each delivery POSTs (JSON). */
export interface WebhookBody {
  id: string;
  type: typeof WEBHOOK_EVENT_TYPE;
  createdAt: string;
  data: { tripId: string; status: string; [field: string]: unknown };
}

/**
 * Why `url` may not be an endpoint, or null when it may. HTTPS only; plain http to 127.0.0.1, ::1 or
 * localhost outside production (local receivers, tests). No credentials, no fragment, bounded length;
 * in production no loopback, private or link-local address literal and no `localhost`.
 */
export function webhookUrlProblem(url: string, options: { production: boolean }): string | null {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsed.username || parsed.password) return 'must not contain credentials';
  if (parsed.hash) return 'must not contain a fragment';
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const local = host === 'localhost' || host === '127.0.0.1' || host === '::1';
  if (parsed.protocol === 'http:') {
    if (options.production || !local) return 'must use https';
  } else if (parsed.protocol !== 'https:') {
    return 'must use https';
  }
  if (!host) return 'must name a host';
  if (options.production && (host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host))) return 'must be a public address';
  return null;
}

/** Loopback, private, link-local, unspecified (IPv4 and IPv6 literals). */
function isPrivateAddress(host: string): boolean {
  const version = isIP(host);
  if (version === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  if (version === 6) return host === '::' || host === '::1' || /^f[cd]/.test(host) || /^fe[89ab]/.test(host) || host.startsWith('::ffff:');
  return false;
}

const setWebhookSchema = z.object({ url: z.string().trim().min(1, 'must not be empty').max(MAX_WEBHOOK_URL_LENGTH, `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`) });

const listSchema = z.object({
  status: z.enum(DELIVERY_STATUSES).nullish(),
  partnerId: z.string().refine(isUuid, 'must be a partner id').nullish(),
  first: z.preprocess((value) => value ?? undefined, pageSizeSchema),
  after: z.string().max(512, 'is too long').nullish(),
});

const retrySchema = z.object({ id: z.string().refine(isUuid, 'must be a delivery id') });

export class PartnerWebhookService {
  readonly #repository: PartnerWebhookRepository;
  readonly #production: boolean;

  constructor(options: { repository?: PartnerWebhookRepository; production: boolean }) {
    this.#repository = options.repository ?? new PartnerWebhookRepository();
    this.#production = options.production;
  }

  get repository(): PartnerWebhookRepository {
    return this.#repository;
  }

  /** Registers (or replaces) the calling partner's endpoint with a new secret, shown in this answer only. */
  async setWebhook(em: EntityManager, principal: Principal, args: unknown): Promise<PartnerWebhookView> {
    const partnerId = partnerOf(principal);
    const { url } = parseInput(setWebhookSchema, args);
    const problem = webhookUrlProblem(url, { production: this.#production });
    if (problem) throw badUserInput('The webhook URL is not usable.', { url: problem });
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const row = await this.#repository.upsertEndpoint(em, partnerId, new URL(url).toString(), secret);
    return { ...viewOf(row), secret: row.secret };
  }

  /** The calling partner's endpoint, without its secret; null when none is registered. */
  async webhookOf(em: EntityManager, principal: Principal): Promise<PartnerWebhookView | null> {
    const row = await this.#repository.endpointOf(em, partnerOf(principal));
    return row ? viewOf(row) : null;
  }

  /** Admins: deliveries newest first, by status and partner. */
  async listDeliveries(em: EntityManager, args: unknown): Promise<Connection<DeliveryRow>> {
    const { status, partnerId, first, after } = parseInput(listSchema, args);
    const beforeSeq = after ? seqOfCursor(after) : undefined;
    const rows = await this.#repository.listDeliveries(em, { status, partnerId, beforeSeq }, first + 1);
    const page = rows.slice(0, first);
    const edges = page.map((node) => ({ cursor: encodeCursor({ at: node.createdAt, id: node.seq }), node }));
    return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  /** Admins: a DEAD delivery gets its tries again (CONFLICT when it is not DEAD). */
  async retryDelivery(em: EntityManager, args: unknown): Promise<DeliveryRow> {
    const { id } = parseInput(retrySchema, args);
    const retried = await this.#repository.retryDead(em, id);
    if (retried) return retried;
    const existing = await this.#repository.deliveryById(em, id);
    if (!existing) throw notFound('The delivery');
    throw conflict('Only a DEAD delivery can be retried.', { reason: 'NOT_DEAD' });
  }

  /**
   * Reads trips' own stream and, for a partner trip whose partner has an endpoint, writes one delivery
   * per event (in the consumer's transaction with its processed-event record: exactly once per event id;
   * the unique (partner_id, event_id) makes a second insert a no-op anyway). A whole read is one statement:
   * most trip events are riders' and insert nothing, yet a statement each would still put one per trip
   * event into the consumer's transactions under a burst.
   */
  consume(events: Pick<EventBus, 'consume'>): void {
    events.consume({
      name: PARTNER_WEBHOOKS_CONSUMER,
      source: 'trips',
      contracts: TRIP_CONTRACTS,
      // Still used one event at a time: a read of one, a reclaimed one, and each of a read whose handleMany threw (only a failing one is retried).
      handle: (event, em) => this.enqueue(em, event),
      handleMany: (events, em) => this.enqueueMany(em, events),
    });
  }

  /** The delivery of one trip event (nothing for a rider's trip or a partner with no endpoint). */
  async enqueue(em: EntityManager, event: TripEvent): Promise<void> {
    await this.enqueueMany(em, [event]);
  }

  /** The deliveries of trip events, in their order, in one statement; none when every event is a rider's by its own word. */
  async enqueueMany(em: EntityManager, events: readonly TripEvent[]): Promise<void> {
    const deliveries: NewDelivery[] = [];
    for (const event of events) {
      const data = event.data as TripEvent['data'] & { paymentMethod?: string; partnerId?: string | null };
      // An event that says how the trip is paid and is not PARTNER is a rider's trip: no lookup.
      if (data.paymentMethod !== undefined && data.paymentMethod !== 'PARTNER') continue;
      const body: WebhookBody = { id: event.id, type: WEBHOOK_EVENT_TYPE, createdAt: event.occurredAt, data: webhookDataOf(event) };
      deliveries.push({ eventId: event.id, eventType: event.type, tripId: data.tripId, partnerId: data.partnerId ?? null, body: JSON.stringify(body) });
    }
    await this.#repository.enqueueMany(em, deliveries);
  }
}

/** The partner-facing part of a trip event: its status and what the partner needs of it (no driver or rider ids). */
export function webhookDataOf(event: TripEvent): WebhookBody['data'] {
  switch (event.type) {
    case 'TripRequested': {
      const data = event.data as EventOf<typeof TripRequested>['data'];
      return { tripId: data.tripId, status: 'REQUESTED', at: data.requestedAt, vehicleType: data.vehicleType, fare: toMoney(BigInt(data.fareMinor), data.currency) };
    }
    case 'TripMatched': {
      const data = event.data as EventOf<typeof TripMatched>['data'];
      return { tripId: data.tripId, status: 'DRIVER_ASSIGNED', at: data.matchedAt, vehicleType: data.vehicleType };
    }
    case 'TripDriverArrived': {
      const data = event.data as EventOf<typeof TripDriverArrived>['data'];
      return { tripId: data.tripId, status: 'DRIVER_ARRIVED', at: data.arrivedAt };
    }
    case 'TripStarted': {
      const data = event.data as EventOf<typeof TripStarted>['data'];
      return { tripId: data.tripId, status: 'IN_PROGRESS', at: data.startedAt };
    }
    case 'TripCompleted': {
      const data = event.data as EventOf<typeof TripCompleted>['data'];
      return { tripId: data.tripId, status: 'COMPLETED', at: data.completedAt, fare: toMoney(BigInt(data.fareMinor), data.currency) };
    }
    case 'TripCancelled': {
      const data = event.data as EventOf<typeof TripCancelled>['data'];
      return { tripId: data.tripId, status: 'CANCELLED', at: data.cancelledAt, cancelledBy: data.cancelledBy, reason: data.reason, fee: toMoney(BigInt(data.feeMinor), data.currency) };
    }
    default:
      throw new Error(`no webhook for ${(event as { type: string }).type}`);
  }
}

const viewOf = (row: PartnerWebhookRow): PartnerWebhookView => ({ url: row.url, secret: null, createdAt: row.createdAt, updatedAt: row.updatedAt });

function seqOfCursor(after: string): string {
  const [, id, ...rest] = Buffer.from(after, 'base64url').toString('utf8').split('|');
  if (rest.length > 0 || !id || !/^\d{1,18}$/.test(id)) throw badUserInput('The cursor is not valid.', { after: 'is not a cursor from this list' });
  return id;
}

function partnerOf(principal: Principal): string {
  if (principal.role !== 'PARTNER' || !isUuid(principal.userId)) throw forbidden('Only partner organisations have webhooks.');
  return principal.userId;
}
