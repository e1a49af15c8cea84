/**
 * Money-moving calls as the ledger receives them (validated here, at its edge) and as a batch decides
 * them: every call becomes a TransferCommand with its idempotency key, the digest of its parameters and
 * the id its transfer gets if accepted.
 */
import { randomUUID } from 'node:crypto';
import { parseInput } from '../../../platform/validation.ts';
import { requestHash } from './idempotency.ts';
import type { TransferCommand } from './transfers.ts';
import { holdSchema, postSchema, reverseSchema, transferSchema, voidSchema, type HoldInput, type PostInput, type ReverseInput, type TransferInput, type VoidInput } from './validation.ts';

/** One call, for the APIs that take several at once (LedgerTransaction.apply). */
export type LedgerCall =
  | { op: 'transfer'; input: TransferInput }
  | { op: 'hold'; input: HoldInput }
  | { op: 'post'; input: PostInput }
  | { op: 'void'; input: VoidInput }
  | { op: 'reverse'; input: ReverseInput };

/**
 * The digest of a call's parameters. `userData` and `importedAt` count only when given, so a call that
 * carries neither digests as it did before they existed (a retry across that deploy is still a replay).
 */
function digest(op: string, parameters: Record<string, unknown>): string {
  const { userData, importedAt, ...rest } = parameters;
  return requestHash(op, { ...rest, ...(userData != null ? { userData } : {}), ...(importedAt != null ? { importedAt } : {}) });
}

/** Validates a call (BAD_USER_INPUT naming each bad field) and makes it a command. */
export function commandOf(call: LedgerCall): TransferCommand {
  switch (call.op) {
    case 'transfer': {
      const { idempotencyKey, ...parameters } = parseInput(transferSchema, call.input);
      return { op: 'transfer', key: idempotencyKey, hash: digest('transfer', parameters), id: randomUUID(), ...parameters, expiresAt: null };
    }
    case 'hold': {
      const { idempotencyKey, timeoutMs, ...parameters } = parseInput(holdSchema, call.input);
      const expiresAt = timeoutMs === null ? null : new Date(Date.now() + timeoutMs);
      return { op: 'hold', key: idempotencyKey, hash: digest('hold', { ...parameters, timeoutMs }), id: randomUUID(), ...parameters, expiresAt };
    }
    case 'post': {
      const { idempotencyKey, ...parameters } = parseInput(postSchema, call.input);
      return { op: 'post', key: idempotencyKey, hash: digest('post', parameters), id: randomUUID(), ...parameters };
    }
    case 'void': {
      const { idempotencyKey, ...parameters } = parseInput(voidSchema, call.input);
      return { op: 'void', key: idempotencyKey, hash: digest('void', parameters), id: randomUUID(), ...parameters };
    }
    case 'reverse': {
      const { idempotencyKey, ...parameters } = parseInput(reverseSchema, call.input);
      return { op: 'reverse', key: idempotencyKey, hash: digest('reverse', parameters), id: randomUUID(), ...parameters };
    }
  }
}
