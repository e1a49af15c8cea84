/**
 * Every statement of outgoing webhooks: partners' endpoints (`partner_webhooks`) and the deliveries of
 * their trips' status changes (`partner_webhook_deliveries`, migrations.ts 0005). Parameterized; the
 * worker's claim and each outcome are single statements, so several replicas can run the worker at once.
 */
import { arrayLiteral, executeStatement, type EntityManager } from '../../../platform/db.ts';
import { TRIPS } from '../rows.ts';

const WEBHOOKS = '"trips"."partner_webhooks"';
const DELIVERIES = '"trips"."partner_webhook_deliveries"';

export const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'DEAD'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface PartnerWebhookRow {
  partnerId: string;
  url: string;
  secret: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeliveryRow {
  id: string;
  seq: string;
  eventId: string;
  eventType: string;
  partnerId: string;
  url: string;
  body: string;
  attempts: number;
  nextAttemptAt: Date;
  status: DeliveryStatus;
  lastError: string | null;
  lastStatusCode: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** What the consumer asks to deliver for one trip event: `partnerId` when the event names it, else null (the trip's row tells). */
export interface NewDelivery {
  eventId: string;
  eventType: string;
  tripId: string;
  partnerId: string | null;
  body: string;
}

/** A claimed delivery with the endpoint's current URL and secret (a rotated secret signs what is still pending). */
export interface ClaimedDelivery extends DeliveryRow {
  endpointUrl: string;
  secret: string;
}

type Raw = Record<string, unknown>;
const date = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));
const dateOrNull = (value: unknown) => (value === null || value === undefined ? null : date(value));

const webhookOf = (row: Raw): PartnerWebhookRow => ({
  partnerId: String(row.partner_id),
  url: String(row.url),
  secret: String(row.secret),
  createdAt: date(row.created_at),
  updatedAt: date(row.updated_at),
});

const deliveryOf = (row: Raw): DeliveryRow => ({
  id: String(row.id),
  seq: String(row.seq),
  eventId: String(row.event_id),
  eventType: String(row.event_type),
  partnerId: String(row.partner_id),
  url: String(row.url),
  body: String(row.body),
  attempts: Number(row.attempts),
  nextAttemptAt: date(row.next_attempt_at),
  status: row.status as DeliveryStatus,
  lastError: (row.last_error as string | null) ?? null,
  lastStatusCode: row.last_status_code === null || row.last_status_code === undefined ? null : Number(row.last_status_code),
  createdAt: date(row.created_at),
  deliveredAt: dateOrNull(row.delivered_at),
});

export class PartnerWebhookRepository {
  /** Creates or replaces the partner's endpoint with a new secret; answers the row as written. */
  async upsertEndpoint(em: EntityManager, partnerId: string, url: string, secret: string): Promise<PartnerWebhookRow> {
    const [row] = await executeStatement(
      em,
      `insert into ${WEBHOOKS} ("partner_id", "url", "secret", "created_at", "updated_at") values (?, ?, ?, now(), now())
       on conflict ("partner_id") do update set "url" = excluded."url", "secret" = excluded."secret", "updated_at" = now()
       returning *`,
      [partnerId, url, secret],
    );
    return webhookOf(row!);
  }

  async endpointOf(em: EntityManager, partnerId: string): Promise<PartnerWebhookRow | null> {
    const [row] = await executeStatement(em, `select * from ${WEBHOOKS} where "partner_id" = ?`, [partnerId]);
    return row ? webhookOf(row) : null;
  }

  /**
   * Inserts the deliveries of a read of trip events in one statement, inside the consumer's transaction:
   * for each event, the partner it names or, when it names none, the trip's own row; nothing for a trip
   * that is not a partner's or a partner with no endpoint. Rows take their `seq` in the events' order,
   * which is the order the worker sends them in. An event inserted before (a replay) is a no-op.
   */
  async enqueueMany(em: EntityManager, deliveries: readonly NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await executeStatement(
      em,
      `insert into ${DELIVERIES} ("event_id", "event_type", "partner_id", "url", "body", "next_attempt_at", "created_at")
       select e."event_id", e."event_type", w."partner_id", w."url", e."body", now(), now()
       from unnest(?::uuid[], ?::text[], ?::text[], ?::uuid[], ?::uuid[]) with ordinality as e("event_id", "event_type", "body", "partner_id", "trip_id", "position")
       join ${WEBHOOKS} w on w."partner_id" = coalesce(e."partner_id", (select t."partner_id" from ${TRIPS} t where t."id" = e."trip_id"))
       order by e."position"
       on conflict ("partner_id", "event_id") do nothing`,
      [
        arrayLiteral(deliveries.map((delivery) => delivery.eventId)),
        arrayLiteral(deliveries.map((delivery) => delivery.eventType)),
        arrayLiteral(deliveries.map((delivery) => delivery.body)),
        arrayLiteral(deliveries.map((delivery) => delivery.partnerId)),
        arrayLiteral(deliveries.map((delivery) => delivery.tripId)),
      ],
    );
  }

  /**
   * Claims up to `limit` due deliveries (PENDING, next attempt passed), in event order, skipping rows
   * another replica holds: each attempt is counted and the row leased (its next attempt moved `leaseMs`
   * ahead), so a worker that dies mid-send leaves it due again once the lease ends.
   */
  async claimDue(em: EntityManager, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const rows = await executeStatement(
      em,
      `with due as (
         select d."id" from ${DELIVERIES} d
         where d."status" = 'PENDING' and d."next_attempt_at" <= now()
         order by d."next_attempt_at", d."seq"
         limit ? for update skip locked
       ), claimed as (
         update ${DELIVERIES} d set "attempts" = d."attempts" + 1, "next_attempt_at" = now() + (? * interval '1 millisecond')
         from due where d."id" = due."id"
         returning d.*
       )
       select c.*, w."url" as "endpoint_url", w."secret" as "secret"
       from claimed c join ${WEBHOOKS} w on w."partner_id" = c."partner_id"
       order by c."seq"`,
      [limit, leaseMs],
    );
    return rows.map((row) => ({ ...deliveryOf(row), endpointUrl: String(row.endpoint_url), secret: String(row.secret) }));
  }

  /** The attempt succeeded. Guarded by the attempt count: a worker whose lease ended and was re-claimed writes nothing. */
  async markDelivered(em: EntityManager, id: string, attempts: number, url: string, statusCode: number): Promise<void> {
    await executeStatement(
      em,
      `update ${DELIVERIES} set "status" = 'DELIVERED', "delivered_at" = now(), "url" = ?, "last_status_code" = ?, "last_error" = null
       where "id" = ? and "attempts" = ? and "status" = 'PENDING'`,
      [url, statusCode, id, attempts],
    );
  }

  /** The attempt failed: due again after `retryInMs`, or DEAD when null (no tries left). */
  async markFailed(em: EntityManager, id: string, attempts: number, url: string, failure: { error: string; statusCode: number | null }, retryInMs: number | null): Promise<void> {
    await executeStatement(
      em,
      `update ${DELIVERIES} set
         "status" = case when ?::bigint is null then 'DEAD' else 'PENDING' end,
         "next_attempt_at" = case when ?::bigint is null then "next_attempt_at" else now() + (?::bigint * interval '1 millisecond') end,
         "url" = ?, "last_error" = ?, "last_status_code" = ?
       where "id" = ? and "attempts" = ? and "status" = 'PENDING'`,
      [retryInMs, retryInMs, retryInMs, url, failure.error.slice(0, 500), failure.statusCode, id, attempts],
    );
  }

  /** A DEAD delivery gets a fresh set of tries, due now; null when it is not DEAD (or not found). */
  async retryDead(em: EntityManager, id: string): Promise<DeliveryRow | null> {
    const [row] = await executeStatement(
      em,
      `update ${DELIVERIES} set "status" = 'PENDING', "attempts" = 0, "next_attempt_at" = now()
       where "id" = ? and "status" = 'DEAD' returning *`,
      [id],
    );
    return row ? deliveryOf(row) : null;
  }

  async deliveryById(em: EntityManager, id: string): Promise<DeliveryRow | null> {
    const [row] = await executeStatement(em, `select * from ${DELIVERIES} where "id" = ?`, [id]);
    return row ? deliveryOf(row) : null;
  }

  /** Newest first by keyset (seq: the order the events were consumed in), `limit` rows; filters optional. */
  async listDeliveries(em: EntityManager, filter: { status?: DeliveryStatus | null; partnerId?: string | null; beforeSeq?: string | undefined }, limit: number): Promise<DeliveryRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) {
      where.push(`"status" = ?`);
      params.push(filter.status);
    }
    if (filter.partnerId) {
      where.push(`"partner_id" = ?`);
      params.push(filter.partnerId);
    }
    if (filter.beforeSeq) {
      where.push(`"seq" < ?::bigint`);
      params.push(filter.beforeSeq);
    }
    const rows = await executeStatement(
      em,
      `select * from ${DELIVERIES} ${where.length ? `where ${where.join(' and ')}` : ''} order by "seq" desc limit ?`,
      [...params, limit],
    );
    return rows.map(deliveryOf);
  }
}
