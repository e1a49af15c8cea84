import DataLoader from 'dataloader';
import type { RoutingProvider } from '../../platform/routing.ts';
import { latLngSchema, z } from '../../platform/validation.ts';
import { VEHICLE_TYPES, type VehicleType } from './entities.ts';
import type { LiveLocations } from './live/engine.ts';
import { rankNearby, type NearbyQuery } from './live/store.ts';

/** Drivers further than this from a pickup do not count for its ETA: none nearer means no ETA (null). */
export const ETA_SEARCH_RADIUS_M = 8_000;

/** What the router sends for `Quote.pickupEtaS` (its @requires fields). */
export interface QuoteReference {
  id: string;
  pickup?: { lat: number; lng: number } | null;
  vehicleType?: string | null;
}

const referenceSchema = z.object({ pickup: latLngSchema, vehicleType: z.enum(VEHICLE_TYPES) });

interface EtaQuestion {
  pickup: { lat: number; lng: number };
  vehicleType: VehicleType;
}

/**
 * Seconds for the nearest fresh AVAILABLE driver of the quote's vehicle type to reach its pickup, by
 * the routing provider; null when no such driver is within 8 km. One per request: the quotes of a
 * fareEstimates answer (one per vehicle type, one pickup) arrive in one `_entities` call, and every
 * distinct (pickup, type) is looked up once, all at the same time (Redis: the scripts are pipelined
 * into one round trip).
 */
export function pickupEtaLoader(live: LiveLocations, routing: RoutingProvider): DataLoader<QuoteReference, number | null, string> {
  return new DataLoader<QuoteReference, number | null, string>(
    async (references) => {
      const freshSince = live.now() - live.rules.freshnessMs;
      return Promise.all(
        references.map(async (reference) => {
          const parsed = referenceSchema.safeParse(reference);
          if (!parsed.success) return null; // the router always sends both; anything else has no ETA
          return etaOf(live, routing, parsed.data, freshSince);
        }),
      );
    },
    { cacheKeyFn: (reference) => `${reference.pickup?.lat},${reference.pickup?.lng},${reference.vehicleType}`, maxBatchSize: 100 },
  );
}

async function etaOf(live: LiveLocations, routing: RoutingProvider, { pickup, vehicleType }: EtaQuestion, freshSince: number): Promise<number | null> {
  const query: NearbyQuery = { near: pickup, radiusM: ETA_SEARCH_RADIUS_M, vehicleType, first: 1 };
  const [nearest] = rankNearby(query, await live.store.nearby(query, freshSince));
  if (!nearest) return null;
  return (await routing.estimate({ lat: nearest.lat, lng: nearest.lng }, pickup)).durationS;
}
