/**
 * The proof that the ledger is balanced: ledger-wide, posted debits equal posted credits and pending
 * debits equal pending credits; every account's four counters equal what its transfers add up to; and
 * every idempotency key names a transfer that exists.
 * Every difference is reported, not just a yes or no.
 */
import type { Counters } from './accounts.ts';
import type { CounterRow, StoredKey } from './ledger-repository.ts';

export type Discrepancy =
  /** Ledger-wide debits and credits differ (counters were changed without a transfer). */
  | { kind: 'TOTALS'; side: 'posted' | 'pending'; debits: bigint; credits: bigint }
  /** An account's stored counter differs from the sum of its transfers. */
  | { kind: 'ACCOUNT_COUNTER'; accountId: string; counter: keyof Counters; stored: bigint; fromTransfers: bigint }
  /** An idempotency key names a transfer that does not exist (a replay of its call would fail). */
  | { kind: 'KEY_WITHOUT_TRANSFER'; key: string; transferId: string };

export interface LedgerCheck {
  balanced: boolean;
  totals: Counters;
  discrepancies: Discrepancy[];
}

const COUNTERS = ['debitsPending', 'debitsPosted', 'creditsPending', 'creditsPosted'] as const;

export function ledgerCheck(totals: Counters, mismatches: readonly CounterRow[], orphanKeys: readonly StoredKey[] = []): LedgerCheck {
  const discrepancies: Discrepancy[] = [];
  if (totals.debitsPosted !== totals.creditsPosted) discrepancies.push({ kind: 'TOTALS', side: 'posted', debits: totals.debitsPosted, credits: totals.creditsPosted });
  if (totals.debitsPending !== totals.creditsPending) discrepancies.push({ kind: 'TOTALS', side: 'pending', debits: totals.debitsPending, credits: totals.creditsPending });
  for (const row of mismatches) {
    for (const counter of COUNTERS) {
      if (row.stored[counter] !== row.fromTransfers[counter]) discrepancies.push({ kind: 'ACCOUNT_COUNTER', accountId: row.accountId, counter, stored: row.stored[counter], fromTransfers: row.fromTransfers[counter] });
    }
  }
  for (const key of orphanKeys) discrepancies.push({ kind: 'KEY_WITHOUT_TRANSFER', key: key.key, transferId: key.transferId });
  return { balanced: discrepancies.length === 0, totals, discrepancies };
}

/** One line per discrepancy, for logs and assertion messages. */
export function describeCheck(check: LedgerCheck): string {
  if (check.balanced) return `balanced: posted ${check.totals.debitsPosted} = ${check.totals.creditsPosted}, pending ${check.totals.debitsPending} = ${check.totals.creditsPending}`;
  return check.discrepancies
    .map((d) =>
      d.kind === 'TOTALS'
        ? `${d.side} debits ${d.debits} ≠ credits ${d.credits}`
        : d.kind === 'ACCOUNT_COUNTER'
          ? `account ${d.accountId} ${d.counter}: stored ${d.stored}, transfers add up to ${d.fromTransfers}`
          : `idempotency key ${d.key} names transfer ${d.transferId}, which does not exist`,
    )
    .join('\n');
}
