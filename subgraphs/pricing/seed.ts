import type { DemoCity } from '../../platform/demo-city.ts';
import type { EntityManager } from '../../platform/db.ts';
import { Quote } from './entities.ts';
import { splitFare } from './fares.ts';
import { loadPriceBook, priceListFor, priceListsInForce } from './price-lists.ts';
import { quoteRow } from './service.ts';
import { cellOf } from './surge.ts';

/** Demo quotes were valid for the default ten minutes before their trip was requested. */
const DEMO_QUOTE_TTL_MS = 10 * 60_000;

/**
 * The quote behind every demo trip (same id, rider, fare, route), so Trip.quote resolves here once
 * trips signs a token for it. The breakdown sums to the trip's fare. Existing rows are left alone.
 * Demo quotes booked their trips, so they live in Postgres in both run modes.
 */
export async function seedDemoQuotes(em: EntityManager, city: DemoCity) {
  const existing = new Set((await em.find(Quote, { id: { $in: city.trips.map((t) => t.quoteId) } }, { fields: ['id'] })).map((q) => q.id));
  const missing = city.trips.filter((trip) => !existing.has(trip.quoteId));
  if (missing.length === 0) return;
  const lists = priceListsInForce((await loadPriceBook(em)).rules, new Date());
  const rows = missing.map((trip) => {
    const list = priceListFor(lists, trip.vehicleType);
    return {
      ...quoteRow({
        id: trip.quoteId,
        riderId: trip.riderId,
        vehicleType: trip.vehicleType,
        pickup: trip.pickup,
        dropoff: trip.dropoff,
        route: trip,
        fare: splitFare(trip.fareMinor, list, trip),
        list,
        fareRuleId: null,
        h3Cell: cellOf(trip.pickup),
        expiresAt: new Date(trip.requestedAt.getTime() + DEMO_QUOTE_TTL_MS),
        createdAt: new Date(trip.requestedAt.getTime() - 60_000),
      }),
      tripId: trip.id,
      bookedAt: trip.requestedAt,
    };
  });
  await em.insertMany(Quote, rows);
}
