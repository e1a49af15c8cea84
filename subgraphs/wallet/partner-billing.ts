/**
 * Partner organisations' billing (hotels, travel desks booking rides for guests). A partner's ledger
 * account (kind PARTNER, owner = the organisation's id, debit-normal) is postpaid: a booking holds the
 * fare on it, settlement posts the hold (partner → trip clearing → the driver's earnings and the
 * platform's commission), a cancellation voids it or posts the fee. The account carries the
 * DEBITS_MUST_NOT_EXCEED_CREDITS rule with its debit limit as the credit limit admins set: posted and
 * held debits never pass posted credits (what the partner paid in) plus the limit — the batch refuses it
 * first, the row's CHECK constraint in any case. A new partner has no credit until an admin sets a limit.
 */
import type { Principal } from '../../platform/auth.ts';
import { AppError, badUserInput, conflict, forbidden } from '../../platform/errors.ts';
import { isCurrency, parseMinor, toMoney } from '../../platform/money.ts';
import { hasRole, isAdmin, isService } from '../../platform/rules.ts';
import { isUuid, parseInput, z } from '../../platform/validation.ts';
import { LEDGER_CURRENCY, MAX_AMOUNT_MINOR, type Account, type Ledger, type TransferWithParties } from './ledger/index.ts';
import type { FareHoldView } from './service.ts';
import { CODES, holdKey, paymentOf, tripLedgerOf } from './trip-ledger.ts';
import { moneyInputSchema } from './validation.ts';

const uuid = z.string().refine(isUuid, 'must be a uuid');

/** A credit limit: zero or more of a supported currency, exact to its minor unit. */
const limitSchema = z
  .object({ amount: z.string().max(40), currency: z.string().refine(isCurrency, 'must be a supported ISO 4217 currency code') })
  .strict()
  .transform((money, ctx) => {
    const minor = parseMinor(money.amount, money.currency);
    if (minor === null || minor < 0n || minor > MAX_AMOUNT_MINOR) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'must be zero or a positive decimal amount such as 5000.00' });
      return z.NEVER;
    }
    return { minor, currency: money.currency };
  });

export const holdPartnerFareArgsSchema = z.object({ tripId: uuid, partnerId: uuid, amount: moneyInputSchema });
export const setCreditLimitArgsSchema = z.object({ partnerId: uuid, amount: limitSchema });
export const statementArgsSchema = z.object({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month as YYYY-MM'),
  partnerId: uuid.nullish(),
});

export interface PartnerAccountView {
  partnerId: string;
  currency: string;
  creditLimit: bigint;
  /** Posted debits − posted credits: what the partner owes for finished trips. */
  outstanding: bigint;
  /** Pending debits: fares held for trips still running. */
  held: bigint;
  availableCredit: bigint;
}

export interface StatementLine {
  tripId: string;
  kind: 'FARE' | 'CANCELLATION_FEE' | 'REFUND';
  /** Signed from the partner's side: a charge is positive, a refund negative. */
  amount: bigint;
  currency: string;
  at: Date;
}

export interface PartnerStatementView {
  partnerId: string;
  month: string;
  currency: string;
  lines: StatementLine[];
  trips: number;
  fares: bigint;
  cancellationFees: bigint;
  refunds: bigint;
  total: bigint;
  account: PartnerAccountView;
}

export class PartnerBilling {
  readonly #ledger: Ledger;

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  /**
   * Holds a PARTNER trip's fare on the partner's account (trips, at bookRideForGuest). One hold per trip
   * id, the same as a WALLET trip's (key `trip:<id>:hold`, code TRIP_FARE, to trip clearing): the same
   * call answers the same hold; another payer or amount is CONFLICT (IDEMPOTENCY_KEY_REUSED); past the
   * credit limit CREDIT_LIMIT_EXCEEDED (`extensions.limit`, `outstanding`, `held`), nothing written.
   */
  async holdPartnerFare(args: unknown): Promise<FareHoldView> {
    const { tripId, partnerId, amount } = parseInput(holdPartnerFareArgsSchema, args);
    const transfers = await this.#ledger.transfersByReferences([tripId]);
    const existing = tripLedgerOf(transfers).hold;
    if (existing) {
      const payer = existing.debitAccount;
      if (payer.kind !== 'PARTNER' || payer.ownerId?.toLowerCase() !== partnerId.toLowerCase() || existing.amount !== amount.minor || existing.currency !== amount.currency) {
        throw conflict('This trip already holds another amount or another payer’s money.', { reason: 'IDEMPOTENCY_KEY_REUSED' });
      }
      return { tripId, amount: existing.amount, currency: existing.currency, status: paymentOf(tripId, transfers)!.status };
    }
    const account = await this.#ledger.openAccount({ kind: 'PARTNER', ownerId: partnerId, currency: amount.currency });
    try {
      await this.#ledger.hold({
        idempotencyKey: holdKey(tripId),
        debitAccountId: account.id,
        creditAccountId: await this.#ledger.systemAccountId('TRIP_CLEARING', amount.currency),
        amount: amount.minor,
        currency: amount.currency,
        code: CODES.TRIP_FARE,
        reference: tripId,
      });
    } catch (error) {
      if (error instanceof AppError && error.code === 'INSUFFICIENT_FUNDS') {
        const view = accountView(await this.#ledger.account(account.id));
        throw new AppError('CREDIT_LIMIT_EXCEEDED', 'The fare would take the partner account past its credit limit.', {
          limit: toMoney(view.creditLimit, view.currency),
          outstanding: toMoney(view.outstanding, view.currency),
          held: toMoney(view.held, view.currency),
        });
      }
      throw error;
    }
    return { tripId, amount: amount.minor, currency: amount.currency, status: 'AUTHORIZED' };
  }

  /**
   * Sets a partner's credit limit (admins), opening its account when needed. A limit below what the
   * partner already owes and has held is CONFLICT (LIMIT_BELOW_OUTSTANDING): the account's rule would
   * be broken at once (the database's CHECK refuses it too).
   */
  async setCreditLimit(args: unknown): Promise<PartnerAccountView> {
    const { partnerId, amount } = parseInput(setCreditLimitArgsSchema, args);
    const { before, after } = await this.#ledger.setDebitLimit({ kind: 'PARTNER', ownerId: partnerId, currency: amount.currency }, amount.minor);
    if (!after) {
      const view = accountView(await this.#ledger.account(before.id));
      throw conflict('The partner already owes and holds more than this limit.', {
        reason: 'LIMIT_BELOW_OUTSTANDING',
        outstanding: toMoney(view.outstanding, view.currency),
        held: toMoney(view.held, view.currency),
      });
    }
    return accountView(after);
  }

  /**
   * A month's statement from the ledger (UTC months): every fare and cancellation fee posted from the
   * partner's account in the month, and every refund back to it, one line each with its trip; totals;
   * and the account as it stands now. A PARTNER reads its own (a `partnerId` other than its own is
   * FORBIDDEN); admins name the partner.
   */
  async statement(principal: Principal, args: unknown): Promise<PartnerStatementView> {
    const { month, partnerId: asked } = parseInput(statementArgsSchema, args);
    let partnerId: string;
    if (principal.role === 'PARTNER') {
      if (asked && asked.toLowerCase() !== principal.userId.toLowerCase()) throw forbidden('A partner reads its own statements only.');
      partnerId = principal.userId;
    } else {
      if (!asked) throw badUserInput('Name the partner.', { partnerId: 'is required for admins' });
      partnerId = asked;
    }
    const [year, monthNumber] = month.split('-').map(Number) as [number, number];
    const from = new Date(Date.UTC(year, monthNumber - 1, 1));
    const to = new Date(Date.UTC(year, monthNumber, 1));
    const found = await this.#ledger.findAccount('PARTNER', partnerId, LEDGER_CURRENCY);
    const transfers = found ? await this.#ledger.transfersBetween(found.id, from, to) : [];
    // The account read after its transfers: it never shows less than the lines do.
    const account = found ? await this.#ledger.account(found.id) : null;
    const lines = account ? linesOf(account.id, transfers) : [];
    const sum = (kind: StatementLine['kind']) => lines.filter((line) => line.kind === kind).reduce((total, line) => total + line.amount, 0n);
    const fares = sum('FARE');
    const cancellationFees = sum('CANCELLATION_FEE');
    const refunds = -sum('REFUND');
    return {
      partnerId,
      month,
      currency: LEDGER_CURRENCY,
      lines,
      trips: new Set(lines.filter((line) => line.kind !== 'REFUND').map((line) => line.tripId)).size,
      fares,
      cancellationFees,
      refunds,
      total: fares + cancellationFees - refunds,
      account: account ? accountView(account) : { partnerId, currency: LEDGER_CURRENCY, creditLimit: 0n, outstanding: 0n, held: 0n, availableCredit: 0n },
    };
  }
}

/** The posted charges (fares, fees) from the account and the reversals back to it, oldest first. */
function linesOf(accountId: string, transfers: readonly TransferWithParties[]): StatementLine[] {
  const posted = new Set(['SINGLE', 'POST_PENDING']);
  const lines: StatementLine[] = [];
  for (const transfer of transfers) {
    if (!posted.has(transfer.kind) || !transfer.reference) continue;
    const line = { tripId: transfer.reference, currency: transfer.currency, at: transfer.createdAt };
    if (transfer.reversalOf !== null && transfer.creditAccountId === accountId) lines.push({ ...line, kind: 'REFUND', amount: -transfer.amount });
    else if (transfer.debitAccountId === accountId && transfer.code === CODES.TRIP_FARE) lines.push({ ...line, kind: 'FARE', amount: transfer.amount });
    else if (transfer.debitAccountId === accountId && transfer.code === CODES.CANCELLATION_FEE) lines.push({ ...line, kind: 'CANCELLATION_FEE', amount: transfer.amount });
  }
  return lines;
}

function accountView(account: Account): PartnerAccountView {
  const outstanding = account.debitsPosted - account.creditsPosted;
  const held = account.debitsPending;
  return { partnerId: account.ownerId!, currency: account.currency, creditLimit: account.debitLimit, outstanding, held, availableCredit: account.creditsPosted + account.debitLimit - account.debitsPosted - account.debitsPending };
}

const money = (field: 'creditLimit' | 'outstanding' | 'held' | 'availableCredit') => (view: PartnerAccountView) => toMoney(view[field], view.currency);
const statementMoney = (field: 'fares' | 'cancellationFees' | 'refunds' | 'total') => (view: PartnerStatementView) => toMoney(view[field], view.currency);

/** The partner billing fields of the wallet's schema, merged into its resolvers (index.ts). */
export function partnerBillingResolvers(billing: PartnerBilling) {
  return {
    Query: {
      partnerStatement: (_: unknown, args: unknown, ctx: { principal?: Principal }) => billing.statement(ctx.principal!, args),
    },
    Mutation: {
      holdPartnerTripFare: (_: unknown, args: unknown) => billing.holdPartnerFare(args),
      setPartnerCreditLimit: (_: unknown, args: unknown) => billing.setCreditLimit(args),
    },
    PartnerAccount: { creditLimit: money('creditLimit'), outstanding: money('outstanding'), held: money('held'), availableCredit: money('availableCredit') },
    PartnerStatement: { fares: statementMoney('fares'), cancellationFees: statementMoney('cancellationFees'), refunds: statementMoney('refunds'), total: statementMoney('total') },
    PartnerStatementLine: { amount: (line: StatementLine) => toMoney(line.amount, line.currency) },
  };
}

/** Their rules, merged into the wallet's permissions (index.ts). */
export const partnerBillingPermissions = {
  Query: { partnerStatement: hasRole('PARTNER', 'ADMIN') },
  Mutation: { holdPartnerTripFare: isService, setPartnerCreditLimit: isAdmin },
  // Reached only through the fields above (the statement is the caller's own, checked in PartnerBilling.statement).
  types: { PartnerAccount: hasRole('PARTNER', 'ADMIN'), PartnerStatement: hasRole('PARTNER', 'ADMIN'), PartnerStatementLine: hasRole('PARTNER', 'ADMIN') },
};
