import type DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import { keyedLoader } from '../../platform/loaders.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { Payment, Wallet } from './entities.ts';

export interface WalletExtras {
  /** Wallet rows by user id; null when the user has none yet. One statement per request. */
  readonly walletByUser: DataLoader<string, Wallet | null>;
  /** Payments by trip id; null when the trip has none. One statement per request. */
  readonly paymentByTrip: DataLoader<string, Payment | null>;
}

export type WalletContext = SubgraphContext<WalletExtras>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids reach SQL only when they are uuids: anything else is simply not found, never a database error. */
const uuids = (keys: readonly string[]) => keys.filter((key) => UUID.test(key));

export function createWalletExtras(em: EntityManager): WalletExtras {
  return {
    walletByUser: keyedLoader(async (userIds) => {
      const valid = uuids(userIds);
      return valid.length > 0 ? em.find(Wallet, { userId: { $in: valid } }) : [];
    }, (wallet) => wallet.userId),
    paymentByTrip: keyedLoader(async (tripIds) => {
      const valid = uuids(tripIds);
      return valid.length > 0 ? em.find(Payment, { tripId: { $in: valid } }) : [];
    }, (payment) => payment.tripId),
  };
}
