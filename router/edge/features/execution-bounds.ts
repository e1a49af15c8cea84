/**
 * Execution bounds: how long an operation may run and how large its answer may be, enforced by the
 * path that answers it (so the feature needs the path's support, `needsPathSupport`).
 *
 * - Deadline: the request stage fixes it (arrival + the caller's timeout, as epoch milliseconds). The
 *   router sends it to every subgraph as `x-request-deadline` (platform/context.ts), gives each upstream
 *   call only the time that is left, and answers SERVICE_UNAVAILABLE (reason DEADLINE_EXCEEDED) once it
 *   has passed; a subgraph refuses work that arrives past it, and Postgres cancels statements after
 *   DATABASE_STATEMENT_TIMEOUT_MS.
 * - Answer size: a subgraph answer larger than `maxResponseBytes` is not read further; the client gets
 *   BAD_USER_INPUT (reason RESPONSE_TOO_LARGE) instead.
 */
import { performance } from 'node:perf_hooks';
import type { CostRole } from './operation-limits.ts';
import type { EdgeFeature, EdgeRequest } from '../types.ts';

export interface ExecutionBoundsOptions {
  /** Time from the request's arrival to its deadline, in milliseconds. */
  readonly requestTimeoutMs: number;
  /** Per-role overrides of `requestTimeoutMs` (a caller without a token is ANONYMOUS). */
  readonly requestTimeoutMsByRole?: Readonly<Partial<Record<CostRole, number>>>;
  /** The largest subgraph answer the router reads, in bytes. */
  readonly maxResponseBytes: number;
}

export interface ExecutionBounds {
  /** Epoch milliseconds after which no work should start or go on. */
  readonly deadline: number;
  readonly maxResponseBytes: number;
}

const BOUNDS = 'execution-bounds';

/** Needs the answering path's support (EdgeFeature.needsPathSupport): the path must pass the bounds on. */
export function executionBoundsFeature(options: ExecutionBoundsOptions): EdgeFeature & { readonly needsPathSupport: true } {
  return {
    name: 'execution-bounds',
    needsPathSupport: true,
    request(request) {
      const role: CostRole = request.connection.principal?.role ?? 'ANONYMOUS';
      const timeoutMs = options.requestTimeoutMsByRole?.[role] ?? options.requestTimeoutMs;
      // startedAt is performance.now() at arrival: the deadline counts from then, not from this stage.
      const arrivedAt = Date.now() - (performance.now() - request.startedAt);
      const bounds: ExecutionBounds = { deadline: Math.round(arrivedAt + timeoutMs), maxResponseBytes: options.maxResponseBytes };
      request.state.set(BOUNDS, bounds);
    },
  };
}

/** The bounds the execution-bounds feature set on this request (undefined when the feature is off). */
export function executionBoundsOf(request: EdgeRequest): ExecutionBounds | undefined {
  return request.state.get(BOUNDS) as ExecutionBounds | undefined;
}
