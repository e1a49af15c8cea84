/**
 * Idempotency of every money-moving call. A key is stored with the digest of the call's parameters and
 * the transfer it made, in the same transaction as that transfer: the same key with the same parameters
 * answers the first transfer again; with other parameters it is refused. A refused call (insufficient
 * funds, …) changed nothing and keeps no key, so the caller may retry it with the same key once the
 * balance allows (as TigerBeetle keeps no failed transfer). Keys are kept at least 24 hours.
 */
import { createHash } from 'node:crypto';
import { conflict, type AppError } from '../../../platform/errors.ts';

/** How long a key is kept at least: a retry within this window is always recognised. */
export const MIN_KEY_RETENTION_MS = 24 * 3600 * 1000;

/** A digest of what a call asked for: its operation and every parameter but the key, in a fixed order. */
export function requestHash(op: string, parameters: Record<string, unknown>): string {
  const canonical = JSON.stringify([op, ...Object.keys(parameters).sort().map((name) => [name, normalise(parameters[name])])]);
  return createHash('sha256').update(canonical).digest('hex');
}

function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return value.toISOString();
  return value ?? null;
}

export function keyReused(): AppError {
  return conflict('This idempotency key was used for a different request.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
}
