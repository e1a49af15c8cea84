import { duplicateRedis, type Redis } from '../redis.ts';

/** One entry of a stream as the bus sees it: the stream's own id, the event type and the JSON envelope. */
export interface StreamEntry {
  readonly id: string;
  readonly type: string;
  readonly payload: string;
}

/** An entry waiting in a group's pending list: who holds it, for how long, how often it was delivered. */
export interface PendingEntry {
  readonly id: string;
  readonly consumer: string;
  readonly idleMs: number;
  readonly deliveries: number;
}

/**
 * The stream operations the relay and consumers need, shaped after Redis Streams: Redis in
 * distributed mode, an in-process log (in-process-log.ts) in embedded mode. Both keep consumer
 * groups, per-group delivery order, pending lists and delivery counts.
 */
export interface StreamTransport {
  /**
   * For a log that starts empty with the process (in-process), once per stream: when the log was
   * created. The first relay of that stream then replays events published shortly before (by the
   * previous run), which consumers deduplicate. Redis: always undefined.
   */
  claimReplay(stream: string): Date | undefined;
  /**
   * Marks the stream as holding what the relay published, and says whether the mark was there: false
   * when it was missing, i.e. the stream was lost (Redis restarted without persistence, was flushed, or
   * failed over to an empty replica) or never existed. The relay then publishes again what it published
   * lately (`OUTBOX_REPLAY_AFTER_LOSS_MS`). In-process: always true (claimReplay covers a new log).
   */
  markIntact(stream: string): Promise<boolean>;
  append(stream: string, entries: Array<{ type: string; payload: string }>): Promise<void>;
  /** Creates the group at the start of the stream (so a late consumer still gets what was published before it). */
  ensureGroup(stream: string, group: string): Promise<void>;
  /** A reader for one consumer's blocking reads; blocking needs its own connection. */
  openReader(): StreamReader;
  ack(stream: string, group: string, ids: string[]): Promise<void>;
  /** Pending entries idle at least `minIdleMs`, oldest first. */
  pending(stream: string, group: string, minIdleMs: number, count: number): Promise<PendingEntry[]>;
  /** Takes over pending entries still idle `minIdleMs` (counts a delivery); entries trimmed from the stream are dropped from the pending list. */
  claim(stream: string, group: string, consumer: string, minIdleMs: number, ids: string[]): Promise<StreamEntry[]>;
  /** Forgets a consumer on clean shutdown, but only when it holds no pending entries (forgetting it would drop them). */
  removeIdleConsumer(stream: string, group: string, consumer: string): Promise<void>;
  close(): Promise<void>;
}

export interface StreamReader {
  /** New entries for this consumer, waiting up to `blockMs`; [] when none came. */
  read(stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]>;
  /** Ends a read in progress (it resolves []) and releases the connection. */
  close(): Promise<void>;
}

/** The key that says a stream still holds what was published to it (same hash tag as the stream). */
export function streamMarkKey(stream: string): string {
  return `${stream}:intact`;
}

/** Streams are capped (approximately, which keeps trimming cheap) so Redis memory stays bounded. */
export const STREAM_MAX_LENGTH = 100_000;

export class RedisStreamTransport implements StreamTransport {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  claimReplay() {
    return undefined;
  }

  async markIntact(stream: string) {
    // SET NX answers OK only when the key was missing.
    return (await this.#redis.set(streamMarkKey(stream), new Date().toISOString(), 'NX')) === null;
  }

  async append(stream: string, entries: Array<{ type: string; payload: string }>) {
    if (entries.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const entry of entries) pipeline.xadd(stream, 'MAXLEN', '~', STREAM_MAX_LENGTH, '*', 'type', entry.type, 'event', entry.payload);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async ensureGroup(stream: string, group: string) {
    try {
      await this.#redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
    }
  }

  openReader(): StreamReader {
    const connection = duplicateRedis(this.#redis, { enableAutoPipelining: false, maxRetriesPerRequest: null });
    connection.on('error', () => undefined); // the consumer logs failed reads itself
    let closed = false;
    return {
      async read(stream, group, consumer, count, blockMs) {
        if (closed) return [];
        try {
          const reply = (await connection.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
          return reply ? reply[0][1].map(toEntry) : [];
        } catch (error) {
          if (closed) return [];
          throw error;
        }
      },
      async close() {
        closed = true;
        connection.disconnect();
      },
    };
  }

  async ack(stream: string, group: string, ids: string[]) {
    if (ids.length > 0) await this.#redis.xack(stream, group, ...ids);
  }

  async pending(stream: string, group: string, minIdleMs: number, count: number): Promise<PendingEntry[]> {
    const reply = (await this.#redis.xpending(stream, group, 'IDLE', minIdleMs, '-', '+', count)) as Array<[string, string, number, number]>;
    return reply.map(([id, consumer, idleMs, deliveries]) => ({ id, consumer, idleMs: Number(idleMs), deliveries: Number(deliveries) }));
  }

  async claim(stream: string, group: string, consumer: string, minIdleMs: number, ids: string[]): Promise<StreamEntry[]> {
    if (ids.length === 0) return [];
    const reply = (await this.#redis.xclaim(stream, group, consumer, minIdleMs, ...ids)) as Array<[string, string[] | null] | null>;
    // Ids claimed meanwhile by another consumer are simply not returned. Entries trimmed from the
    // stream are dropped from the pending list by Redis 7; Redis 6 returns them without fields: ack those.
    const claimed = reply.filter((entry): entry is [string, string[]] => Array.isArray(entry?.[1]));
    const gone = reply.filter((entry) => entry && !Array.isArray(entry[1])).map((entry) => entry![0]);
    if (gone.length > 0) await this.#redis.xack(stream, group, ...gone);
    return claimed.map(toEntry);
  }

  async removeIdleConsumer(stream: string, group: string, consumer: string) {
    const held = (await this.#redis.xpending(stream, group, '-', '+', 1, consumer)) as unknown[];
    if (held.length === 0) await this.#redis.xgroup('DELCONSUMER', stream, group, consumer);
  }

  async close() {
    // The shared client belongs to the subgraph; readers close their own connections.
  }
}

function toEntry([id, fields]: [string, string[]]): StreamEntry {
  let type = '';
  let payload = '';
  for (let index = 0; index < fields.length; index += 2) {
    if (fields[index] === 'type') type = fields[index + 1];
    else if (fields[index] === 'event') payload = fields[index + 1];
  }
  return { id, type, payload };
}
