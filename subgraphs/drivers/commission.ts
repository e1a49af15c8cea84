import { AppError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Money } from '../../platform/money.ts';
import type { ServiceRequestOptions } from '../../platform/service-client.ts';

/** A driver's commission debt as the wallet, the owner of money, reports it. */
export interface CommissionDebt {
  driverUserId: string;
  /** What the driver owes the platform net of their wallet's balance (0.00 when nothing). */
  debt: Money;
  limit: Money;
  /** False once the debt reaches the limit: the driver settles before going online. */
  canGoOnline: boolean;
}

/**
 * What goOnline needs from the wallet. The real one calls the wallet subgraph's service-only
 * `driverCommissionDebt` (`@inaccessible`, SERVICE role) with a service token.
 */
export interface CommissionDebts {
  /** The driver's (accounts user id) debt; SERVICE_UNAVAILABLE when the wallet did not answer. */
  of(driverUserId: string, options?: ServiceRequestOptions): Promise<CommissionDebt>;
}

/** The one call a service client makes (platform/service-client.ts). */
export interface WalletRequester {
  request<T>(query: string, variables?: Record<string, unknown>, options?: ServiceRequestOptions): Promise<T>;
}

const DEBT = `query DriverCommissionDebt($driverUserId: ID!) {
  driverCommissionDebt(driverUserId: $driverUserId) { driverUserId debt { amount currency } limit { amount currency } canGoOnline }
}`;

export function httpCommissionDebts(wallet: WalletRequester): CommissionDebts {
  return {
    async of(driverUserId, options) {
      return (await wallet.request<{ driverCommissionDebt: CommissionDebt }>(DEBT, { driverUserId }, options)).driverCommissionDebt;
    },
  };
}

/**
 * The gate of goOnline: a driver whose commission debt (cash trips' commission the wallet could not take
 * from their balance) reached the limit stays OFFLINE with COMMISSION_DEBT_LIMIT, the debt and the limit
 * in `extensions`, until they settle it.
 *
 * It fails open: when the wallet cannot answer (down, draining, timing out, or answering with an error),
 * the driver goes online and a warning is logged. The debt itself is never lost — the wallet records
 * every cash commission whether or not the driver is online, on the driver's receivable past the limit —
 * so an outage only postpones the gate to the driver's next goOnline, while failing closed would take
 * every driver starting a shift off the road (and every CASH ride with them) for as long as the wallet
 * is down. A driver already online when the debt passes the limit also stays online until their next
 * goOnline: the gate is checked when a shift starts.
 */
export async function assertMayGoOnline(debts: CommissionDebts, driverUserId: string, logger: Logger, options?: ServiceRequestOptions): Promise<void> {
  let standing: CommissionDebt;
  try {
    standing = await debts.of(driverUserId, options);
  } catch (error) {
    const unavailable = error instanceof AppError && error.code === 'SERVICE_UNAVAILABLE';
    logger[unavailable ? 'warn' : 'error']({ err: error, driverUserId }, 'commission debt unknown (the wallet did not answer): the driver goes online unchecked');
    return;
  }
  if (standing.canGoOnline) return;
  throw new AppError(
    'COMMISSION_DEBT_LIMIT',
    `Your commission debt of ${standing.debt.amount} ${standing.debt.currency} has reached the limit of ${standing.limit.amount} ${standing.limit.currency}; settle it before going online.`,
    { debt: standing.debt, limit: standing.limit },
  );
}
