import type DataLoader from 'dataloader';
import { groupedLoader } from '../../platform/loaders.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { isUuid } from '../../platform/validation.ts';
import type { Account, TransferWithParties } from './ledger/index.ts';
import type { FraudWatch } from './fraud.ts';
import type { PaymentsService } from './payments/payments-service.ts';
import type { Reconciliation } from './reconciliation.ts';
import type { WalletService } from './service.ts';

/** The wallet's process-wide services, shared by every request. */
export interface WalletServices {
  readonly wallet: WalletService;
  readonly payments: PaymentsService;
  readonly fraud: FraudWatch;
  readonly reconciliation: Reconciliation;
}

export interface WalletExtras extends WalletServices {
  /** Users' rider and driver wallet accounts, by user id. One statement per request. */
  readonly walletAccountsByOwner: DataLoader<string, Account[]>;
  /** Every transfer about a trip, by trip id (Trip.payment). One statement per request. */
  readonly transfersByTrip: DataLoader<string, TransferWithParties[]>;
}

export type WalletContext = SubgraphContext<WalletExtras>;

/** Ids reach SQL only when they are uuids: anything else is simply not found, never a database error. */
const uuids = (keys: readonly string[]) => keys.filter(isUuid);

export function createWalletExtras(services: WalletServices): WalletExtras {
  const { wallet } = services;
  return {
    ...services,
    walletAccountsByOwner: groupedLoader((ownerIds) => wallet.walletAccounts(uuids(ownerIds)), (account) => account.ownerId!),
    transfersByTrip: groupedLoader((tripIds) => wallet.tripTransfers(uuids(tripIds)), (transfer) => transfer.reference!),
  };
}
