import { arrayLiteral, executeStatement, type EntityManager } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { getMany, hashTag, setMany, type Redis } from '../../platform/redis.ts';
import { Quote } from './entities.ts';
import { deserializeQuote, serializeQuote, type QuoteRecord } from './quotes.ts';

/**
 * Where issued quotes live. Most are never booked, so with Redis they are kept there, expiring on
 * their own; a booked one is copied to Postgres when its TripRequested arrives, and stays (Trip.quote
 * shows it forever). Embedded, every quote is a Postgres row from the start. Redis is expendable: a
 * quote it lost before its booking was kept is rebuilt from its signed id (QuoteClaims carry it whole).
 */
export interface QuoteStore {
  save(em: EntityManager, quotes: readonly QuoteRecord[]): Promise<void>;
  /** The quotes with these ids, in order (null when unknown): one MGET, then one SELECT for the rest. */
  load(em: EntityManager, ids: readonly string[]): Promise<Array<QuoteRecord | null>>;
  /**
   * Marks each quote as having booked its trip and makes sure Postgres holds it; inside the caller's
   * transaction. A quote found neither in Redis nor in Postgres is kept as the booking's `quote` (rebuilt
   * from its signed id). Returns the bookings whose quote is nowhere to be found and came without one
   * (a token issued before tokens carried the whole quote, its quote lost from Redis).
   */
  book(em: EntityManager, bookings: readonly QuoteBooking[]): Promise<QuoteBooking[]>;
}

export interface QuoteBooking {
  quoteId: string;
  tripId: string;
  bookedAt: Date;
  /** The quote as its signed id describes it, kept when no store holds it (null: the id does not carry it whole). */
  quote?: QuoteRecord | null;
}

type BookedQuote = QuoteRecord & { tripId: string; bookedAt: Date };

/** The quote's columns, each with how it travels in an array parameter (`unnest(?::type[], ...)`). */
const QUOTE_COLUMNS: ReadonlyArray<readonly [column: string, type: string, value: (quote: BookedQuote) => string | bigint | number | null]> = [
  ['id', 'uuid', (q) => q.id],
  ['rider_id', 'uuid', (q) => q.riderId],
  ['vehicle_type', 'text', (q) => q.vehicleType],
  ['pickup_lat', 'float8', (q) => q.pickupLat],
  ['pickup_lng', 'float8', (q) => q.pickupLng],
  ['dropoff_lat', 'float8', (q) => q.dropoffLat],
  ['dropoff_lng', 'float8', (q) => q.dropoffLng],
  ['distance_m', 'int4', (q) => q.distanceM],
  ['duration_s', 'int4', (q) => q.durationS],
  ['base_fare_minor', 'int8', (q) => q.baseFareMinor],
  ['distance_fare_minor', 'int8', (q) => q.distanceFareMinor],
  ['time_fare_minor', 'int8', (q) => q.timeFareMinor],
  ['booking_fee_minor', 'int8', (q) => q.bookingFeeMinor],
  ['minimum_top_up_minor', 'int8', (q) => q.minimumTopUpMinor],
  ['time_of_day_minor', 'int8', (q) => q.timeOfDayMinor],
  ['surge_minor', 'int8', (q) => q.surgeMinor],
  ['rounding_minor', 'int8', (q) => q.roundingMinor],
  ['fare_minor', 'int8', (q) => q.fareMinor],
  ['currency', 'text', (q) => q.currency],
  ['surge_multiplier', 'numeric', (q) => q.surgeMultiplier],
  ['time_of_day_multiplier', 'numeric', (q) => q.timeOfDayMultiplier],
  ['cancellation_fee_minor', 'int8', (q) => q.cancellationFeeMinor],
  ['commission_bps', 'int4', (q) => q.commissionBps],
  ['h3_cell', 'text', (q) => q.h3Cell ?? null],
  ['trip_id', 'uuid', (q) => q.tripId],
  ['booked_at', 'timestamptz', (q) => q.bookedAt.toISOString()],
  ['fare_rule_id', 'uuid', (q) => q.fareRuleId ?? null],
  ['expires_at', 'timestamptz', (q) => new Date(q.expiresAt).toISOString()],
  ['created_at', 'timestamptz', (q) => new Date(q.createdAt).toISOString()],
];
/** The columns a kept booked quote is written with: every column of pricing.quotes (a test holds them to the table). */
export const BOOKED_QUOTE_COLUMNS: readonly string[] = QUOTE_COLUMNS.map(([column]) => column);
const COLUMN_LIST = QUOTE_COLUMNS.map(([column]) => `"${column}"`).join(', ');
const UPSERT_BOOKED = `insert into "pricing"."quotes" (${COLUMN_LIST})
  select * from unnest(${QUOTE_COLUMNS.map(([, type]) => `?::${type}[]`).join(', ')}) as q(${COLUMN_LIST})
  order by "id"
  on conflict ("id") do update set "trip_id" = excluded."trip_id", "booked_at" = excluded."booked_at"`;

/**
 * A redelivered event finds the row already there: only the booking is (re)written. One statement for
 * the batch, each column one array parameter: MikroORM's upsertMany cost about a millisecond of CPU per
 * quote (bench:dispatch profile, pricing's consumer in a burst of bookings).
 */
async function upsertBooked(em: EntityManager, quotes: readonly BookedQuote[]) {
  if (quotes.length === 0) return;
  // One row per id (two bookings of one quote in a read: the first, as the row would keep it).
  const unique = [...new Map([...quotes].reverse().map((quote) => [quote.id, quote])).values()];
  await executeStatement(em, UPSERT_BOOKED, QUOTE_COLUMNS.map(([, , value]) => arrayLiteral(unique.map(value))));
}

async function loadRows(em: EntityManager, ids: readonly string[]): Promise<Map<string, QuoteRecord>> {
  if (ids.length === 0) return new Map();
  const rows = await em.find(Quote, { id: { $in: [...ids] } }, { disableIdentityMap: true });
  return new Map(rows.map((row) => [row.id, row]));
}

/**
 * Marks existing rows; their other columns are never rewritten. A booking with no row inserts the quote
 * it carries (rebuilt from its signed id); returns the bookings with neither.
 */
async function markBooked(em: EntityManager, bookings: readonly QuoteBooking[], logger?: Logger): Promise<QuoteBooking[]> {
  const missing: QuoteBooking[] = [];
  const rebuilt: BookedQuote[] = [];
  for (const booking of bookings) {
    const updated = await em.nativeUpdate(Quote, { id: booking.quoteId }, { tripId: booking.tripId, bookedAt: booking.bookedAt });
    if (updated > 0) continue;
    if (booking.quote) rebuilt.push({ ...booking.quote, tripId: booking.tripId, bookedAt: booking.bookedAt });
    else missing.push(booking);
  }
  await upsertBooked(em, rebuilt);
  if (rebuilt.length > 0) logger?.warn({ quoteIds: rebuilt.map((quote) => quote.id) }, 'booked quotes no store held were kept from their signed ids');
  return missing;
}

export class PostgresQuoteStore implements QuoteStore {
  async save(em: EntityManager, quotes: readonly QuoteRecord[]) {
    if (quotes.length > 0) await em.insertMany(Quote, [...quotes]);
  }

  async load(em: EntityManager, ids: readonly string[]) {
    const rows = await loadRows(em, ids);
    return ids.map((id) => rows.get(id) ?? null);
  }

  book(em: EntityManager, bookings: readonly QuoteBooking[]) {
    return markBooked(em, bookings);
  }
}

export interface RedisQuoteStoreOptions {
  redis: Redis;
  /** Every key starts with it: `smartline:pricing:<namespace>:` (no braces: each quote's key is tagged by its id). */
  prefix: string;
  /**
   * How long a quote stays in Redis: its validity plus a grace, so one booked in its last second is
   * still there when its TripRequested is consumed, even behind a backlog.
   */
  ttlSeconds: number;
  logger: Logger;
}

export class RedisQuoteStore implements QuoteStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlSeconds: number;
  readonly #logger: Logger;

  constructor(options: RedisQuoteStoreOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#ttlSeconds = options.ttlSeconds;
    this.#logger = options.logger;
  }

  key(quoteId: string): string {
    // Tagged by the quote: on a Redis Cluster quotes spread over the slots (getMany/setMany handle several).
    return `${this.#prefix}quote:${hashTag(quoteId)}`;
  }

  async save(_em: EntityManager, quotes: readonly QuoteRecord[]) {
    if (quotes.length === 0) return;
    await setMany(this.#redis, quotes.map((quote) => [this.key(quote.id), serializeQuote(quote)] as const), this.#ttlSeconds);
  }

  async load(em: EntityManager, ids: readonly string[]) {
    if (ids.length === 0) return [];
    const raw = await getMany(this.#redis, ids.map((id) => this.key(id)));
    const found = raw.map((value) => (value === null ? null : deserializeQuote(value)));
    const missing = ids.filter((_, i) => found[i] === null);
    const rows = await loadRows(em, missing);
    return ids.map((id, i) => found[i] ?? rows.get(id) ?? null);
  }

  async book(em: EntityManager, bookings: readonly QuoteBooking[]) {
    if (bookings.length === 0) return [];
    const raw = await getMany(this.#redis, bookings.map((booking) => this.key(booking.quoteId)));
    const copied: BookedQuote[] = [];
    const persisted: QuoteBooking[] = []; // not in Redis: already persisted (a redelivery, a demo quote), or lost with Redis
    bookings.forEach((booking, i) => {
      const quote = raw[i] === null ? null : deserializeQuote(raw[i]!);
      if (quote) copied.push({ ...quote, tripId: booking.tripId, bookedAt: booking.bookedAt });
      else persisted.push(booking);
    });
    await upsertBooked(em, copied);
    this.#logger.debug({ quotes: copied.length }, 'booked quotes persisted');
    return markBooked(em, persisted, this.#logger);
  }
}
