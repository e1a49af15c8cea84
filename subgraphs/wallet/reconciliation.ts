/**
 * The daily reconciliation an admin runs: the ledger against itself (balanced, every account's counters
 * equal to its transfers), trips' settlement in the ledger (no leg applied twice, no captured fare without
 * the driver's share and the commission, no trip event the settlement consumer parked unsettled), and the provider against the wallet (every succeeded deposit
 * credited once with its amount, every deposit transfer from a succeeded deposit, every paid payout's
 * hold posted and no other, every provider result backed by a recorded event, no event left unmatched).
 * It reads; it never corrects. Each finding names what it is about so a person can look.
 */
import { badUserInput } from '../../platform/errors.ts';
import type { Ledger } from './ledger/index.ts';
import { describeCheck, LEDGER_CURRENCY } from './ledger/index.ts';
import type { PaymentsRepository } from './payments/payments-repository.ts';
import { SETTLEMENT_CONSUMER } from './trip-events.ts';

export interface Discrepancy {
  kind: string;
  reference: string | null;
  detail: string;
}

export interface ReconciliationView {
  date: string;
  reconciled: boolean;
  ledgerBalanced: boolean;
  discrepancies: Discrepancy[];
  depositsSucceeded: number;
  depositedMinor: bigint;
  depositsFailed: number;
  payoutsPaid: number;
  paidOutMinor: bigint;
  providerEvents: number;
  currency: string;
}

const DAY_MS = 24 * 3_600_000;

/** The UTC day `date` names ("2026-12-04"), not after today's. */
export function utcDay(date: string, now: Date = new Date()): { from: Date; to: Date } {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const from = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  if (!from || Number.isNaN(from.getTime()) || from.toISOString().slice(0, 10) !== date) throw badUserInput('The date must be a day written YYYY-MM-DD.', { date: 'must be a day such as 2026-12-04' });
  if (from.getTime() > now.getTime()) throw badUserInput('The day has not begun yet.', { date: 'must not be after today (UTC)' });
  return { from, to: new Date(from.getTime() + DAY_MS) };
}

export class Reconciliation {
  readonly #ledger: Ledger;
  readonly #repository: PaymentsRepository;
  readonly #now: () => Date;

  constructor(options: { ledger: Ledger; repository: PaymentsRepository; now?: () => Date }) {
    this.#ledger = options.ledger;
    this.#repository = options.repository;
    this.#now = options.now ?? (() => new Date());
  }

  async report(date: string): Promise<ReconciliationView> {
    const { from, to } = utcDay(date, this.#now());
    const [check, settlement, parked, deposits, withdrawals, unmatched, unbacked, totals] = await Promise.all([
      this.#ledger.checkBalanced(),
      this.#repository.settlementAnomalies(from, to),
      this.#repository.parkedSettlements(SETTLEMENT_CONSUMER, from, to),
      this.#repository.depositMismatches(from, to),
      this.#repository.withdrawalMismatches(from, to),
      this.#repository.unmatchedEvents(from, to),
      this.#repository.resultsWithoutEvents(from, to),
      this.#repository.totals(from, to),
    ]);
    const discrepancies: Discrepancy[] = [];
    for (const found of check.discrepancies) {
      const detail = describeCheck({ balanced: false, totals: check.totals, discrepancies: [found] });
      if (found.kind === 'TOTALS') discrepancies.push({ kind: 'LEDGER_UNBALANCED', reference: null, detail });
      else if (found.kind === 'ACCOUNT_COUNTER') discrepancies.push({ kind: 'ACCOUNT_COUNTERS_MISMATCH', reference: found.accountId, detail });
      else discrepancies.push({ kind: 'IDEMPOTENCY_KEY_WITHOUT_TRANSFER', reference: found.key, detail });
    }
    discrepancies.push(...settlement, ...deposits, ...withdrawals);
    for (const event of parked) discrepancies.push({ kind: 'TRIP_NOT_SETTLED', reference: event.tripId ?? event.eventId, detail: `${event.type ?? 'a trip event'} ${event.eventId} was parked unsettled: ${event.lastError ?? 'no error recorded'}` });
    for (const event of unmatched) discrepancies.push({ kind: 'PROVIDER_EVENT_UNMATCHED', reference: event.id, detail: `${event.type} about ${event.objectReference ?? 'nothing'}: ${event.outcome} (${event.detail ?? 'no detail'})` });
    for (const result of unbacked) discrepancies.push({ kind: 'RESULT_WITHOUT_PROVIDER_EVENT', ...result });
    return {
      date,
      reconciled: discrepancies.length === 0,
      ledgerBalanced: check.balanced,
      discrepancies,
      depositsSucceeded: totals.deposits,
      depositedMinor: totals.depositedMinor,
      depositsFailed: totals.failedDeposits,
      payoutsPaid: totals.payouts,
      paidOutMinor: totals.paidOutMinor,
      providerEvents: totals.providerEvents,
      currency: LEDGER_CURRENCY,
    };
  }
}
