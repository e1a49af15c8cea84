// Placeholder until the wallet subgraph lands.
import type { SubgraphSetup } from '../../platform/subgraph.ts';
export const walletSubgraph = undefined as unknown as SubgraphSetup;
