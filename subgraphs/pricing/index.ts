// Placeholder until the pricing subgraph lands.
import type { SubgraphSetup } from '../../platform/subgraph.ts';
export const pricingSubgraph = undefined as unknown as SubgraphSetup;
