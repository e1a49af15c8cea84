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
  authenticateAs(principal: Principal): void;
}

/**
 * The principal lives in a holder shared by reference, and `principal`/`authenticateAs` live on the
 * prototype: Apollo Server shallow-clones the context per operation (own getters would be frozen into
 * values by that clone), and a clone must still see a later `authenticateAs`.
 */
class RequestContextBase {
  declare readonly authState: { principal: Principal | undefined };

  get principal(): Principal | undefined {
    return this.authState.principal;
  }

  authenticateAs(principal: Principal): void {
    this.authState.principal = principal;
  }
}

/** Builds the context; `extras` (EntityManager, loaders, ...) become plain fields of the same object. */
export function createRequestContext<TExtras extends object = {}>(
  input: {
    requestId: string;
    trace: TraceContext;
    logger: Logger;
    authorization: string | undefined;
    principal: Principal | undefined;
  },
  extras?: (logger: Logger) => TExtras,
): RequestContext & TExtras {
  const logger = input.logger.child({ requestId: input.requestId, traceId: input.trace.traceId });
  return Object.assign(new RequestContextBase(), extras?.(logger), {
    requestId: input.requestId,
    trace: input.trace,
    logger,
    authorization: input.authorization,
    authState: { principal: input.principal },
  }) as unknown as RequestContext & TExtras;
}
