/**
 * Transfers and the in-memory half of a batch: given the locked accounts and the transfers the batch
 * refers to, decide each command in turn, accepted or refused on its own, and collect what to write.
 * Pure: no SQL here (ledger-repository.ts writes the result), so it is tested and reasoned about alone.
 */
import { AppError, badUserInput, conflict, notFound } from '../../../platform/errors.ts';
import { debitAllowed, type Account, type Counters } from './accounts.ts';

export const TRANSFER_KINDS = ['SINGLE', 'PENDING', 'POST_PENDING', 'VOID_PENDING'] as const;
export type TransferKind = (typeof TRANSFER_KINDS)[number];

/** One immutable ledger entry: `amount` from `debitAccountId` to `creditAccountId`. */
export interface Transfer {
  id: string;
  /** Order of application; per account, a later transfer has a larger seq. */
  seq: bigint;
  kind: TransferKind;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  currency: string;
  /** Why the money moved (DEPOSIT, TRIP_FARE, COMMISSION, WITHDRAWAL, REFUND, …). */
  code: string;
  /** What it is about (a trip id, a payment intent id, …). */
  reference: string | null;
  /** For POST_PENDING and VOID_PENDING: the pending transfer resolved. */
  pendingId: string | null;
  /** For a reversal: the posted transfer it sends back (in part or whole). */
  reversalOf: string | null;
  /** For PENDING: after this a post is refused (a void is still accepted). */
  expiresAt: Date | null;
  /**
   * A number the caller attaches and the ledger only keeps (TigerBeetle's `user_data_64`): the wallet
   * puts a trip's fare on the driver's share and on a cash commission, so earnings read from the ledger.
   */
  userData: bigint | null;
  /** When it was applied; for an imported transfer, when it happened. */
  createdAt: Date;
}

/** A transfer to insert: everything but what the database assigns (its time too, unless imported). */
export type NewTransfer = Omit<Transfer, 'seq' | 'createdAt'> & {
  /** History imported from elsewhere (the demo city's rides) carries its own time; null: now. */
  importedAt: Date | null;
};

interface CommandBase {
  /** The caller's idempotency key and the digest of the call's parameters. */
  key: string;
  hash: string;
  /** The id the transfer gets if accepted. */
  id: string;
  code: string | null;
  reference: string | null;
  /** Null: none (a post keeps its pending transfer's). */
  userData: bigint | null;
  importedAt: Date | null;
}

/** A validated money-moving call, as a batch receives it. */
export type TransferCommand =
  | (CommandBase & { op: 'transfer' | 'hold'; debitAccountId: string; creditAccountId: string; amount: bigint; currency: string; expiresAt: Date | null })
  | (CommandBase & { op: 'post'; pendingId: string; amount: bigint | null })
  | (CommandBase & { op: 'void'; pendingId: string })
  | (CommandBase & { op: 'reverse'; transferId: string; amount: bigint | null });

/** The transfer a command refers to (its pending or its original), as read after the accounts were locked. */
export interface ReferencedTransfer extends Omit<Transfer, 'seq' | 'createdAt'> {
  /** POST_PENDING or VOID_PENDING when a pending transfer is already resolved. */
  resolvedBy: TransferKind | null;
  /** Sum of the reversals of a posted transfer so far. */
  reversed: bigint;
}

export type LockedAccount = Pick<Account, 'id' | 'currency' | 'balanceRule' | 'debitLimit'> & Counters;

export type Decision = { accepted: NewTransfer } | { refused: AppError };

export interface BatchResult {
  decisions: Decision[];
  /** Net change of each account's counters, one row per account touched. */
  deltas: Map<string, Counters>;
}

/** The largest value a bigint column holds. */
const MAX_BIGINT = 2n ** 63n - 1n;

/** The accounts a command names itself (post, void and reverse take theirs from the transfer they refer to). */
export function accountsNamedBy(command: TransferCommand): string[] {
  return command.op === 'transfer' || command.op === 'hold' ? [command.debitAccountId, command.creditAccountId] : [];
}

/** The transfer a command refers to, if any. */
export function referenceOf(command: TransferCommand): string | null {
  return command.op === 'post' || command.op === 'void' ? command.pendingId : command.op === 'reverse' ? command.transferId : null;
}

/**
 * Decides `commands` in order against `accounts` (locked by the caller) and `referenced`. Each command
 * sees the effect of the ones accepted before it; a refused one changes nothing.
 */
export function decideBatch(commands: readonly TransferCommand[], accounts: ReadonlyMap<string, LockedAccount>, referenced: ReadonlyMap<string, ReferencedTransfer>, now: Date): BatchResult {
  const state = new Map<string, LockedAccount>();
  for (const [id, account] of accounts) state.set(id, { ...account });
  const deltas = new Map<string, Counters>();
  // Transfers made earlier in this batch, so a later command may refer to them.
  const known = new Map<string, ReferencedTransfer>([...referenced].map(([id, transfer]) => [id, { ...transfer }]));
  const decisions: Decision[] = [];

  const apply = (accountId: string, change: Partial<Counters>) => {
    const account = state.get(accountId)!;
    const delta = deltas.get(accountId) ?? { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };
    for (const counter of ['debitsPending', 'debitsPosted', 'creditsPending', 'creditsPosted'] as const) {
      account[counter] += change[counter] ?? 0n;
      delta[counter] += change[counter] ?? 0n;
    }
    deltas.set(accountId, delta);
  };

  for (const command of commands) {
    const decision = decide(command, state, known, now);
    decisions.push(decision);
    if (!('accepted' in decision)) continue;
    const transfer = decision.accepted;
    const { debitAccountId: debit, creditAccountId: credit, amount } = transfer;
    if (transfer.kind === 'SINGLE') {
      apply(debit, { debitsPosted: amount });
      apply(credit, { creditsPosted: amount });
      if (transfer.reversalOf) known.get(transfer.reversalOf)!.reversed += amount;
    } else if (transfer.kind === 'PENDING') {
      apply(debit, { debitsPending: amount });
      apply(credit, { creditsPending: amount });
    } else {
      const pending = known.get(transfer.pendingId!)!;
      const posted = transfer.kind === 'POST_PENDING' ? amount : 0n;
      apply(debit, { debitsPending: -pending.amount, debitsPosted: posted });
      apply(credit, { creditsPending: -pending.amount, creditsPosted: posted });
      pending.resolvedBy = transfer.kind;
    }
    known.set(transfer.id, { ...transfer, resolvedBy: null, reversed: 0n });
  }
  return { decisions, deltas };
}

function decide(command: TransferCommand, accounts: ReadonlyMap<string, LockedAccount>, known: ReadonlyMap<string, ReferencedTransfer>, now: Date): Decision {
  switch (command.op) {
    case 'transfer':
    case 'hold':
      return decideMovement(command, accounts);
    case 'post':
    case 'void':
      return decideResolution(command, accounts, known, now);
    case 'reverse':
      return decideReversal(command, accounts, known);
  }
}

type CommandOf<Op extends TransferCommand['op']> = Extract<TransferCommand, { op: Op }>;

const fresh = (command: TransferCommand) => ({ id: command.id, pendingId: null, reversalOf: null, expiresAt: null, userData: command.userData, importedAt: command.importedAt });

function decideMovement(command: CommandOf<'transfer' | 'hold'>, accounts: ReadonlyMap<string, LockedAccount>): Decision {
  const kind = command.op === 'hold' ? 'PENDING' : 'SINGLE';
  const { debitAccountId, creditAccountId, amount, currency, reference, expiresAt } = command;
  return movement({ ...fresh(command), kind, debitAccountId, creditAccountId, amount, currency, code: command.code ?? (command.op === 'hold' ? 'HOLD' : 'TRANSFER'), reference, expiresAt }, accounts);
}

function decideResolution(command: CommandOf<'post' | 'void'>, accounts: ReadonlyMap<string, LockedAccount>, known: ReadonlyMap<string, ReferencedTransfer>, now: Date): Decision {
  const pending = known.get(command.pendingId);
  if (!pending) return { refused: notFound('The pending transfer') };
  if (pending.kind !== 'PENDING') return { refused: conflict('This transfer is not pending.', { reason: 'NOT_PENDING' }) };
  if (pending.resolvedBy) {
    const posted = pending.resolvedBy === 'POST_PENDING';
    return { refused: conflict(`The pending transfer was already ${posted ? 'posted' : 'voided'}.`, { reason: posted ? 'PENDING_ALREADY_POSTED' : 'PENDING_ALREADY_VOIDED' }) };
  }
  const common = { ...fresh(command), debitAccountId: pending.debitAccountId, creditAccountId: pending.creditAccountId, currency: pending.currency, code: command.code ?? pending.code, reference: command.reference ?? pending.reference, userData: command.userData ?? pending.userData, pendingId: pending.id };
  if (command.op === 'void') return movement({ ...common, kind: 'VOID_PENDING', amount: pending.amount }, accounts);
  if (pending.expiresAt && pending.expiresAt <= now) return { refused: conflict('The pending transfer has expired; it can only be voided.', { reason: 'PENDING_EXPIRED' }) };
  const amount = command.amount ?? pending.amount;
  if (amount > pending.amount) return { refused: badUserInput('The amount exceeds the pending amount.', { amount: `exceeds the pending ${pending.amount}` }) };
  return movement({ ...common, kind: 'POST_PENDING', amount }, accounts);
}

function decideReversal(command: CommandOf<'reverse'>, accounts: ReadonlyMap<string, LockedAccount>, known: ReadonlyMap<string, ReferencedTransfer>): Decision {
  const original = known.get(command.transferId);
  if (!original) return { refused: notFound('The transfer') };
  if ((original.kind !== 'SINGLE' && original.kind !== 'POST_PENDING') || original.reversalOf) {
    return { refused: conflict('Only a posted transfer that is not itself a reversal can be reversed.', { reason: 'NOT_REVERSIBLE' }) };
  }
  const remaining = original.amount - original.reversed;
  const amount = command.amount ?? remaining;
  if (amount > original.amount) return { refused: badUserInput('The amount exceeds the transfer.', { amount: `exceeds the transfer's ${original.amount}` }) };
  if (amount > remaining || remaining === 0n) return { refused: conflict('The transfer was already reversed up to this amount.', { reason: 'EXCEEDS_REVERSIBLE_AMOUNT', remaining: String(remaining) }) };
  const transfer: NewTransfer = { ...fresh(command), kind: 'SINGLE', debitAccountId: original.creditAccountId, creditAccountId: original.debitAccountId, amount, currency: original.currency, code: command.code ?? 'REVERSAL', reference: command.reference ?? original.reference, reversalOf: original.id };
  return movement(transfer, accounts);
}

/** The checks every accepted transfer passes against its two (locked) accounts. */
function movement(transfer: NewTransfer, accounts: ReadonlyMap<string, LockedAccount>): Decision {
  const debit = accounts.get(transfer.debitAccountId);
  const credit = accounts.get(transfer.creditAccountId);
  if (!debit) return { refused: notFound('The debit account') };
  if (!credit) return { refused: notFound('The credit account') };
  if (debit.currency !== transfer.currency || credit.currency !== transfer.currency) {
    return { refused: badUserInput('Both accounts must hold the currency of the transfer.', { currency: `must be the accounts' currency (${debit.currency}, ${credit.currency})` }) };
  }
  // Posting or voiding only ever lowers the debit account's total debits: no rule can refuse it.
  const resolves = transfer.kind === 'POST_PENDING' || transfer.kind === 'VOID_PENDING';
  if (!resolves && !debitAllowed(debit, transfer.amount)) {
    return { refused: new AppError('INSUFFICIENT_FUNDS', undefined, { accountId: debit.id }) };
  }
  const overflows = debit.debitsPending + debit.debitsPosted + transfer.amount > MAX_BIGINT || credit.creditsPending + credit.creditsPosted + transfer.amount + credit.debitLimit > MAX_BIGINT;
  if (overflows) return { refused: conflict('The amount would overflow an account.', { reason: 'OVERFLOW' }) };
  return { accepted: transfer };
}
