import type { DemoCity } from '../../platform/demo-city.ts';
import type { EntityManager } from '../../platform/db.ts';
import { Quote } from './entities.ts';
import { splitFare } from './fares.ts';
import { currentFareRules, QUOTE_TTL_MS, quoteRow, ruleFor, scheduleOf } from './service.ts';

/**
 * The quote behind every demo trip (same id, rider, fare, route), so Trip.quote resolves here once
 * trips signs a token for it. The breakdown sums to the trip's fare. Existing rows are left alone.
 */
export async function seedDemoQuotes(em: EntityManager, city: DemoCity) {
  const existing = new Set((await em.find(Quote, { id: { $in: city.trips.map((t) => t.quoteId) } }, { fields: ['id'] })).map((q) => q.id));
  const missing = city.trips.filter((trip) => !existing.has(trip.quoteId));
  if (missing.length === 0) return;
  const rules = await currentFareRules(em, new Date());
  const rows = missing.map((trip) => {
    const rule = ruleFor(rules, trip.vehicleType);
    return quoteRow({
      id: trip.quoteId,
      riderId: trip.riderId,
      vehicleType: trip.vehicleType,
      pickup: trip.pickup,
      dropoff: trip.dropoff,
      route: trip,
      fare: splitFare(trip.fareMinor, scheduleOf(rule), trip),
      rule,
      fareRuleId: null,
      expiresAt: new Date(trip.requestedAt.getTime() + QUOTE_TTL_MS),
      createdAt: new Date(trip.requestedAt.getTime() - 60_000),
    });
  });
  await em.insertMany(Quote, rows);
}
