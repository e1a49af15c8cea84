import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from './auth.ts';
import type { Logger } from './logger.ts';

/** W3C trace context of one request: the trace it belongs to and the header to forward. */
export interface TraceContext {
  readonly traceId: string;
  readonly traceparent: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Random ids as hex from a pooled buffer: a trace and a span id for every request cost two
 * randomBytes calls (one syscall each), a measurable share of a location update's CPU.
 */
const randomPool = { bytes: Buffer.alloc(0), offset: 0 };
function randomHex(length: number): string {
  if (randomPool.offset + length > randomPool.bytes.length) {
    randomPool.bytes = randomBytes(4096);
    randomPool.offset = 0;
  }
  const hex = randomPool.bytes.toString('hex', randomPool.offset, randomPool.offset + length);
  randomPool.offset += length;
  return hex;
}

/** Continues the caller's trace when it sent a valid `traceparent`, otherwise starts one. */
export function traceContextFrom(headers: IncomingHttpHeaders): TraceContext {
  const incoming = typeof headers.traceparent === 'string' ? TRACEPARENT.exec(headers.traceparent.trim()) : null;
  const traceId = incoming && !/^0+$/.test(incoming[1]) ? incoming[1] : randomHex(16);
  const flags = incoming ? incoming[3] : '01';
  return { traceId, traceparent: `00-${traceId}-${randomHex(8)}-${flags}` };
}

const REQUEST_ID = /^[A-Za-z0-9._\-]{1,128}$/;

/** Keeps a caller-supplied `x-request-id` when it is sane, otherwise makes one. */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const incoming = headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** The router's deadline for a request, as epoch milliseconds, sent to every subgraph it calls. */
export const REQUEST_DEADLINE_HEADER = 'x-request-deadline';

/** The deadline a request carries (`x-request-deadline`), or undefined when it has none or it is not a number. */
export function deadlineFrom(headers: IncomingHttpHeaders): number | undefined {
  const value = headers[REQUEST_DEADLINE_HEADER];
  if (typeof value !== 'string') return undefined;
  const deadline = Number(value);
  return Number.isSafeInteger(deadline) && deadline > 0 ? deadline : undefined;
}

/**
 * What every request carries, in the router and in every subgraph. The principal changes only
 * through `authenticateAs` (log-in and sign-up make the new user the caller of the rest of the request).
 */
export interface RequestContext {
  readonly requestId: string;
  readonly trace: TraceContext;
  readonly logger: Logger;
  /** The raw `Authorization` header, forwarded by the router to subgraphs. */
  readonly authorization: string | undefined;
  readonly principal: Principal | undefined;
  /** The router's deadline for this request (epoch ms, `x-request-deadline`), passed on to the services it calls. */
  readonly deadline?: number;
  authenticateAs(principal: Principal): void;
}

/** Per-request state shared by reference between a context and Apollo Server's shallow clones of it. */
interface ContextState {
  principal: Principal | undefined;
  readonly baseLogger: Logger;
  logger: Logger | undefined;
  readonly buildExtras: ((logger: Logger) => object) | undefined;
  extras: object | undefined;
}

/**
 * Everything that can change or is built on demand lives in `state`, a holder shared by reference,
 * and is read through getters on the prototype: Apollo Server shallow-clones the context per operation
 * (own getters would be frozen into values by that clone), and a clone must still see a later
 * `authenticateAs` and the extras built for the original.
 */
class RequestContextBase {
  declare readonly requestId: string;
  declare readonly trace: TraceContext;
  declare readonly state: ContextState;

  get principal(): Principal | undefined {
    return this.state.principal;
  }

  authenticateAs(principal: Principal): void {
    this.state.principal = principal;
  }

  /** The request's child logger, made on first use: most requests never log. */
  get logger(): Logger {
    return (this.state.logger ??= this.state.baseLogger.child({ requestId: this.requestId, traceId: this.trace.traceId }));
  }

  /** The extras (EntityManager fork, DataLoaders, ...), built once, on the first read of any of them. */
  extras(): Record<string, unknown> {
    return (this.state.extras ??= this.state.buildExtras?.(this.logger) ?? {}) as Record<string, unknown>;
  }
}

export interface RequestContextInput {
  requestId: string;
  trace: TraceContext;
  logger: Logger;
  authorization: string | undefined;
  principal: Principal | undefined;
  deadline?: number;
}

/**
 * Makes contexts whose extras are built lazily. `extrasKeys` names what `extras` returns: each becomes a
 * prototype getter, so a request that reads none of them (a location update reads only the principal)
 * never forks an EntityManager or builds a DataLoader.
 */
export function requestContextFactory<TExtras extends object = {}>(
  extras?: (logger: Logger) => TExtras,
  extrasKeys: readonly string[] = [],
): (input: RequestContextInput) => RequestContext & TExtras {
  class Context extends RequestContextBase {}
  const taken = extrasKeys.filter((key) => key in Context.prototype || ['requestId', 'trace', 'authorization', 'deadline', 'state'].includes(key));
  if (taken.length > 0) throw new Error(`context extras may not be named like the context's own fields: ${taken.join(', ')}`);
  for (const key of extrasKeys) {
    Object.defineProperty(Context.prototype, key, {
      get(this: RequestContextBase) {
        return this.extras()[key];
      },
    });
  }
  return (input) =>
    Object.assign(new Context(), {
      requestId: input.requestId,
      trace: input.trace,
      authorization: input.authorization,
      ...(input.deadline !== undefined ? { deadline: input.deadline } : {}),
      state: { principal: input.principal, baseLogger: input.logger, logger: undefined, buildExtras: extras, extras: undefined },
    }) as unknown as RequestContext & TExtras;
}

const plainContext = requestContextFactory();

/** A context without extras (the router's). */
export function createRequestContext(input: RequestContextInput): RequestContext {
  return plainContext(input);
}
