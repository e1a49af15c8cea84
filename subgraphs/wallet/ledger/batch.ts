/**
 * One batch of money-moving commands in one transaction (its own, or the caller's: LedgerTransaction),
 * a handful of statements however large it is:
 *   1. claim the idempotency keys (one insert; replays and reused keys are told apart here),
 *   2. lock every account involved, in id order (one select … for no key update),
 *   3. read the pending / original transfers referred to, under those locks (only if any),
 *   4. decide each command in memory, in order (transfers.ts), each accepted or refused on its own,
 *   5. write the accepted transfers, the accounts' counters and the release of refused keys (one statement).
 * Row locks make it safe across wallet replicas; the database's constraints remain the last line of defence.
 */
import type { AppError } from '../../../platform/errors.ts';
import { keyReused } from './idempotency.ts';
import type { BatchRunner, BatchStatements } from './ledger-repository.ts';
import { accountsNamedBy, decideBatch, referenceOf, type Transfer, type TransferCommand } from './transfers.ts';

/**
 * A call's outcome: its transfer, or its refusal. `replayed` when the transfer was not made by this call:
 * its idempotency key had made it before, or a twin of the call in the same batch did (the first result
 * again, as the key promises).
 */
export type Outcome = { transfer: Transfer; replayed?: true } | { error: AppError };

export async function applyBatch(repository: BatchRunner, commands: readonly TransferCommand[]): Promise<Outcome[]> {
  const outcomes: Array<Outcome | undefined> = new Array(commands.length);
  // The same key twice in one batch: the first leads and a twin (same parameters) follows it. One with
  // other parameters waits for the leader's outcome: only the parameters stored with the key win it.
  const leaderOf = new Map<string, number>();
  const followers: Array<[follower: number, leader: number]> = [];
  const deferred: Array<[waiting: number, leader: number]> = [];
  commands.forEach((command, i) => {
    const leader = leaderOf.get(command.key);
    if (leader === undefined) leaderOf.set(command.key, i);
    else if (commands[leader]!.hash === command.hash) followers.push([i, leader]);
    else deferred.push([i, leader]);
  });
  const leaders = [...leaderOf.values()];

  await repository.batch(async (tx) => {
    const claimed = await tx.claimKeys(leaders.map((i) => ({ key: commands[i]!.key, hash: commands[i]!.hash, transferId: commands[i]!.id })));
    const replays = leaders.filter((i) => !claimed.has(commands[i]!.key));
    if (replays.length > 0) await answerReplays(tx, commands, replays, outcomes);

    const fresh = leaders.filter((i) => claimed.has(commands[i]!.key));
    if (fresh.length === 0) return;
    const freshCommands = fresh.map((i) => commands[i]!);
    const madeHere = new Set(freshCommands.map((command) => command.id));
    const accountIds = [...new Set(freshCommands.flatMap(accountsNamedBy))];
    const referencedIds = [...new Set(freshCommands.map(referenceOf).filter((id): id is string => id !== null && !madeHere.has(id)))];
    const accounts = await tx.lockAccounts(accountIds, referencedIds);
    const referenced = await tx.referencedTransfers(referencedIds);

    const { decisions, deltas } = decideBatch(freshCommands, accounts, referenced, new Date());
    const accepted = decisions.flatMap((decision) => ('accepted' in decision ? [decision.accepted] : []));
    const released = freshCommands.filter((_, n) => 'refused' in decisions[n]!).map((command) => command.key);
    const stamps = await tx.apply(accepted, deltas, released);
    fresh.forEach((i, n) => {
      const decision = decisions[n]!;
      if ('refused' in decision) {
        outcomes[i] = { error: decision.refused };
      } else {
        const { importedAt: _imported, ...accepted } = decision.accepted;
        const stamp = stamps.get(accepted.id);
        if (!stamp) throw new Error(`transfer ${accepted.id} was not written`);
        // As the database has it (a replay reads it back): its time is the stamp, imported or not.
        outcomes[i] = { transfer: { ...accepted, ...stamp } };
      }
    });
  });

  for (const [follower, leader] of followers) {
    const led = outcomes[leader]!;
    outcomes[follower] = 'transfer' in led ? { transfer: led.transfer, replayed: true } : led;
  }
  // A leader that made (or found) its transfer holds the key with its parameters: the others are refused.
  // Otherwise (the key was stored by another call, or the leader was refused and kept no key) they go
  // again, in a transaction of their own.
  const again = deferred.filter(([waiting, leader]) => {
    if ('transfer' in outcomes[leader]!) outcomes[waiting] = { error: keyReused() };
    return outcomes[waiting] === undefined;
  });
  if (again.length > 0) {
    const retried = await applyBatch(repository, again.map(([waiting]) => commands[waiting]!));
    again.forEach(([waiting], n) => (outcomes[waiting] = retried[n]));
  }
  return outcomes.map((outcome) => outcome!);
}

/** Keys already stored: the first transfer again when the parameters match, a refusal when they do not. */
async function answerReplays(tx: BatchStatements, commands: readonly TransferCommand[], replays: number[], outcomes: Array<Outcome | undefined>) {
  const stored = new Map((await tx.storedKeys(replays.map((i) => commands[i]!.key))).map((key) => [key.key, key]));
  const matching = replays.filter((i) => stored.get(commands[i]!.key)?.hash === commands[i]!.hash);
  const transfers = new Map((await tx.transfersByIds(matching.map((i) => stored.get(commands[i]!.key)!.transferId))).map((transfer) => [transfer.id, transfer]));
  for (const i of replays) {
    const key = stored.get(commands[i]!.key);
    // Claimed by a batch that committed, then purged before this read: rare; failing the batch makes
    // the batcher apply each command alone, when the key is free again.
    if (!key) throw new Error(`idempotency key ${commands[i]!.key} vanished while it was read`);
    if (key.hash !== commands[i]!.hash) {
      outcomes[i] = { error: keyReused() };
      continue;
    }
    const transfer = transfers.get(key.transferId);
    if (!transfer) throw new Error(`the transfer of idempotency key ${key.key} is missing`);
    outcomes[i] = { transfer, replayed: true };
  }
}
