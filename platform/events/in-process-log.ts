import { STREAM_MAX_LENGTH, type PendingEntry, type StreamEntry, type StreamReader, type StreamTransport } from './transport.ts';

/**
 * Embedded mode's stand-in for Redis Streams: one log per namespace, shared by every subgraph of the
 * process (each with its own database), with the same semantics the consumers rely on: consumer
 * groups created at the start of the stream, per-group delivery in append order, a pending list with
 * delivery counts, claim of idle entries, and a capped length. Nothing survives the process; the relay
 * replays recently published outbox rows at start (consumers deduplicate), see relay.ts.
 */
interface LoggedEntry extends StreamEntry {
  readonly seq: number;
}

interface PendingState {
  consumer: string;
  deliveredAt: number;
  deliveries: number;
  readonly entry: LoggedEntry;
}

interface Group {
  lastDelivered: number;
  readonly pending: Map<string, PendingState>;
}

class Stream {
  readonly entries: LoggedEntry[] = [];
  readonly groups = new Map<string, Group>();
  readonly waiters = new Set<() => void>();
  nextSeq = 1;

  get firstSeq(): number {
    return this.entries[0]?.seq ?? this.nextSeq;
  }

  append(type: string, payload: string) {
    const seq = this.nextSeq++;
    this.entries.push({ seq, id: `${seq}-0`, type, payload });
    // Trim in chunks, like MAXLEN ~: cheap, and never below the cap.
    if (this.entries.length > STREAM_MAX_LENGTH * 1.1) this.entries.splice(0, this.entries.length - STREAM_MAX_LENGTH);
  }

  entryAt(seq: number): LoggedEntry | undefined {
    return this.entries[seq - this.firstSeq];
  }

  wake() {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}

export class InProcessLog {
  readonly #streams = new Map<string, Stream>();
  readonly #replayed = new Set<string>();
  readonly createdAt = new Date();

  claimReplay(key: string): Date | undefined {
    if (this.#replayed.has(key)) return undefined;
    this.#replayed.add(key);
    return this.createdAt;
  }

  stream(key: string): Stream {
    let stream = this.#streams.get(key);
    if (!stream) {
      stream = new Stream();
      this.#streams.set(key, stream);
    }
    return stream;
  }
}

const logs = new Map<string, { log: InProcessLog; users: number }>();

/** The process's log for `namespace`, released (and forgotten when nobody holds it) by the transport's close(). */
export function acquireInProcessTransport(namespace: string): StreamTransport {
  let held = logs.get(namespace);
  if (!held) {
    held = { log: new InProcessLog(), users: 0 };
    logs.set(namespace, held);
  }
  held.users += 1;
  let released = false;
  const entry = held;
  return new InProcessTransport(held.log, () => {
    if (released) return;
    released = true;
    entry.users -= 1;
    if (entry.users === 0 && logs.get(namespace) === entry) logs.delete(namespace);
  });
}

export class InProcessTransport implements StreamTransport {
  readonly #log: InProcessLog;
  readonly #release: () => void;

  constructor(log: InProcessLog, release: () => void = () => undefined) {
    this.#log = log;
    this.#release = release;
  }

  claimReplay(key: string) {
    return this.#log.claimReplay(key);
  }

  async markIntact() {
    return true;
  }

  async append(key: string, entries: Array<{ type: string; payload: string }>) {
    const stream = this.#log.stream(key);
    for (const entry of entries) stream.append(entry.type, entry.payload);
    if (entries.length > 0) stream.wake();
  }

  async ensureGroup(key: string, group: string) {
    const stream = this.#log.stream(key);
    if (!stream.groups.has(group)) stream.groups.set(group, { lastDelivered: 0, pending: new Map() });
  }

  openReader(): StreamReader {
    const log = this.#log;
    let closed = false;
    let cancel: (() => void) | undefined;
    return {
      async read(key, groupName, consumer, count, blockMs) {
        const stream = log.stream(key);
        const group = stream.groups.get(groupName);
        if (!group) throw new Error(`NOGROUP ${groupName} on ${key}`);
        for (;;) {
          if (closed) return [];
          const from = Math.max(group.lastDelivered + 1, stream.firstSeq);
          const delivered: StreamEntry[] = [];
          for (let seq = from; seq < stream.nextSeq && delivered.length < count; seq += 1) {
            const entry = stream.entryAt(seq)!;
            group.pending.set(entry.id, { consumer, deliveredAt: Date.now(), deliveries: 1, entry });
            group.lastDelivered = seq;
            delivered.push(entry);
          }
          if (delivered.length > 0) return delivered;
          const woken = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => finish(false), blockMs);
            const wake = () => finish(true);
            function finish(value: boolean) {
              clearTimeout(timer);
              stream.waiters.delete(wake);
              cancel = undefined;
              resolve(value);
            }
            stream.waiters.add(wake);
            cancel = () => finish(false);
          });
          if (!woken) return [];
        }
      },
      async close() {
        closed = true;
        cancel?.();
      },
    };
  }

  async ack(key: string, groupName: string, ids: string[]) {
    const group = this.#log.stream(key).groups.get(groupName);
    for (const id of ids) group?.pending.delete(id);
  }

  async pending(key: string, groupName: string, minIdleMs: number, count: number): Promise<PendingEntry[]> {
    const group = this.#log.stream(key).groups.get(groupName);
    if (!group) return [];
    const now = Date.now();
    const found: PendingEntry[] = [];
    const oldestFirst = [...group.pending.values()].sort((a, b) => a.entry.seq - b.entry.seq);
    for (const state of oldestFirst) {
      if (found.length >= count) break;
      const idleMs = now - state.deliveredAt;
      if (idleMs >= minIdleMs) found.push({ id: state.entry.id, consumer: state.consumer, idleMs, deliveries: state.deliveries });
    }
    return found;
  }

  async claim(key: string, groupName: string, consumer: string, minIdleMs: number, ids: string[]): Promise<StreamEntry[]> {
    const stream = this.#log.stream(key);
    const group = stream.groups.get(groupName);
    if (!group) return [];
    const now = Date.now();
    const claimed: StreamEntry[] = [];
    for (const id of ids) {
      const state = group.pending.get(id);
      if (!state || now - state.deliveredAt < minIdleMs) continue;
      if (state.entry.seq < stream.firstSeq) {
        group.pending.delete(id); // trimmed away, as Redis 7 does
        continue;
      }
      state.consumer = consumer;
      state.deliveredAt = now;
      state.deliveries += 1;
      claimed.push(state.entry);
    }
    return claimed;
  }

  async removeIdleConsumer() {
    // Consumers are not tracked apart from their pending entries.
  }

  async close() {
    this.#release();
  }
}
