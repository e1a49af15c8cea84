// Placeholder until the drivers subgraph lands.
import type { SubgraphSetup } from '../../platform/subgraph.ts';
export const driversSubgraph = undefined as unknown as SubgraphSetup;
