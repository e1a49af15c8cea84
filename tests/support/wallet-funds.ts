import { randomUUID } from 'node:crypto';
import { toMoney } from '../../platform/money.ts';
import { balanceOf, Ledger, type Balance, type OwnedAccountKind, type Transfer } from '../../subgraphs/wallet/ledger/index.ts';
import type { Stack } from './stack.ts';

/**
 * Money in a test stack's wallet, moved the way the wallet itself moves it: a Ledger over the running
 * wallet subgraph's own database (any number of Ledgers may share one), opened with the stack's driver
 * debt limit so the accounts it opens are the ones the wallet would open. There is no deposit API
 * yet: a deposit is a transfer from the payment provider's clearing account, as a completed checkout
 * would make it.
 */
export class WalletFunds {
  readonly ledger: Ledger;

  constructor(stack: Stack) {
    this.ledger = new Ledger(stack.subgraph('wallet').db, { driverDebtLimitMinor: stack.config('wallet').wallet.driverDebtLimitMinor });
  }

  /** Pays `amountMinor` (EGP) into the rider's wallet. */
  async deposit(userId: string, amountMinor: bigint, kind: OwnedAccountKind = 'RIDER_WALLET'): Promise<Transfer> {
    const wallet = await this.ledger.openAccount({ kind, ownerId: userId });
    return this.ledger.transfer({
      idempotencyKey: `test-deposit:${randomUUID()}`,
      debitAccountId: await this.ledger.systemAccountId('PROVIDER_CLEARING'),
      creditAccountId: wallet.id,
      amount: amountMinor,
      code: 'DEPOSIT',
    });
  }

  /** Charges the platform's commission on a cash trip to the driver's wallet (it may go below zero, down to the debt limit). */
  async chargeCashCommission(driverUserId: string, amountMinor: bigint, fareMinor = amountMinor * 5n): Promise<Transfer> {
    const wallet = await this.ledger.openAccount({ kind: 'DRIVER_WALLET', ownerId: driverUserId });
    return this.ledger.transfer({
      idempotencyKey: `test-commission:${randomUUID()}`,
      debitAccountId: wallet.id,
      creditAccountId: await this.ledger.systemAccountId('PLATFORM_REVENUE'),
      amount: amountMinor,
      code: 'CASH_COMMISSION',
      reference: randomUUID(),
      userData: fareMinor,
    });
  }

  /** The owner's balance (posted, pending, available) in minor units; all zero when no account was opened. */
  async balance(userId: string, kind: OwnedAccountKind = 'RIDER_WALLET'): Promise<Pick<Balance, 'posted' | 'pending' | 'available'>> {
    const account = await this.ledger.findAccount(kind, userId);
    if (!account) return { posted: 0n, pending: 0n, available: 0n };
    const { posted, pending, available } = balanceOf(account);
    return { posted, pending, available };
  }

  /** The same as the API shows it: `{ balance, available, pending }` as Money amounts. */
  async walletView(userId: string) {
    const { posted, pending, available } = await this.balance(userId);
    return { balance: toMoney(posted, 'EGP').amount, available: toMoney(available, 'EGP').amount, pending: toMoney(pending, 'EGP').amount };
  }

  /** Every transfer about a trip (the wallet references each one with the trip id), oldest first. */
  tripTransfers(tripId: string): Promise<Transfer[]> {
    return this.ledger.transfersByReferences([tripId]);
  }

  /** The trip's holds (PENDING transfers) still open: neither posted nor voided. */
  async openHolds(tripId: string): Promise<Transfer[]> {
    const transfers = await this.tripTransfers(tripId);
    return transfers.filter((transfer) => transfer.kind === 'PENDING' && !transfers.some((other) => other.pendingId === transfer.id));
  }

  close(): Promise<void> {
    return this.ledger.close();
  }
}
