// Placeholder until the trips subgraph lands.
import type { SubgraphSetup } from '../../platform/subgraph.ts';
export const tripsSubgraph = undefined as unknown as SubgraphSetup;
