import type { SubgraphName } from '../platform/config.ts';
import type { SubgraphSetup } from '../platform/subgraph.ts';
import { accountsSubgraph } from './accounts/index.ts';
import { driversSubgraph } from './drivers/index.ts';
import { pricingSubgraph } from './pricing/index.ts';
import { tripsSubgraph } from './trips/index.ts';
import { walletSubgraph } from './wallet/index.ts';

/** Every subgraph of the supergraph, by name. */
export const SUBGRAPHS: Readonly<Record<SubgraphName, SubgraphSetup>> = Object.freeze({
  accounts: accountsSubgraph,
  drivers: driversSubgraph,
  trips: tripsSubgraph,
  pricing: pricingSubgraph,
  wallet: walletSubgraph,
});
