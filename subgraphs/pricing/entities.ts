import { defineEntity, p } from '@mikro-orm/core';
import { VEHICLE_TYPES } from '../../platform/demo-city.ts';

export { VEHICLE_TYPES };
export type VehicleType = (typeof VEHICLE_TYPES)[number];

/**
 * A vehicle type's price list from `effectiveFrom` on; the latest row already in effect applies.
 * Amounts in integer minor units of `currency`; commission in basis points (1500 = 15 %).
 */
const FareRuleSchema = defineEntity({
  name: 'FareRule',
  tableName: 'fare_rules',
  properties: {
    id: p.uuid().primary(),
    vehicleType: p.enum([...VEHICLE_TYPES]),
    currency: p.string(),
    baseMinor: p.bigint(),
    perKmMinor: p.bigint(),
    perMinMinor: p.bigint(),
    minimumMinor: p.bigint(),
    bookingFeeMinor: p.bigint(),
    /** What a rider pays for cancelling late (trips decides when; see the quote's claims). */
    cancellationFeeMinor: p.bigint(),
    commissionBps: p.integer(),
    effectiveFrom: p.datetime(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export class FareRule extends FareRuleSchema.class {}
FareRuleSchema.setClass(FareRule);

/**
 * One weekly window of the city's local time with a price multiplier. Per `name`, the row with the
 * latest effectiveFrom ≤ now is the window in force; a window is retired by a newer row at 1.00.
 */
const TimeOfDayMultiplierSchema = defineEntity({
  name: 'TimeOfDayMultiplier',
  tableName: 'time_of_day_multipliers',
  properties: {
    id: p.uuid().primary(),
    name: p.string(),
    /** The weekdays the window starts on: "SUN MON TUE WED THU". */
    days: p.string(),
    /** Local time of day, "07:00:00"; an end at or before the start runs past midnight. */
    startsAt: p.string().columnType('time(0)'),
    endsAt: p.string().columnType('time(0)'),
    multiplier: p.decimal('string').precision(4).scale(2),
    effectiveFrom: p.datetime(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export class TimeOfDayMultiplier extends TimeOfDayMultiplierSchema.class {}
TimeOfDayMultiplierSchema.setClass(TimeOfDayMultiplier);

/**
 * An upfront price as issued: what the rider was shown, kept so the signed quote id (which carries
 * only the claims) resolves to its full breakdown. The breakdown parts are the metered amounts;
 * `fareMinor` is what the rider pays.
 */
const QuoteSchema = defineEntity({
  name: 'Quote',
  tableName: 'quotes',
  properties: {
    id: p.uuid().primary(),
    /** The accounts User id of the caller who asked for the estimate. */
    riderId: p.uuid().index(),
    vehicleType: p.enum([...VEHICLE_TYPES]),
    pickupLat: p.float().columnType('double precision'),
    pickupLng: p.float().columnType('double precision'),
    dropoffLat: p.float().columnType('double precision'),
    dropoffLng: p.float().columnType('double precision'),
    distanceM: p.integer(),
    durationS: p.integer(),
    baseFareMinor: p.bigint(),
    distanceFareMinor: p.bigint(),
    timeFareMinor: p.bigint(),
    bookingFeeMinor: p.bigint(),
    minimumTopUpMinor: p.bigint(),
    timeOfDayMinor: p.bigint(),
    surgeMinor: p.bigint(),
    /** May be negative: the fare is rounded to 0.50 after the parts. */
    roundingMinor: p.bigint(),
    fareMinor: p.bigint(),
    currency: p.string(),
    /** numeric(4,2) as an exact decimal string, "1.00". */
    surgeMultiplier: p.decimal('string').precision(4).scale(2),
    timeOfDayMultiplier: p.decimal('string').precision(4).scale(2),
    cancellationFeeMinor: p.bigint(),
    commissionBps: p.integer(),
    /** The res-8 H3 cell of the pickup (null for quotes issued before surge existed). */
    h3Cell: p.string().fieldName('h3_cell').nullable(),
    /** Set once the quote booked a trip (from TripRequested); such a quote is kept for good. */
    tripId: p.uuid().nullable(),
    bookedAt: p.datetime().nullable(),
    /** The price list the fare was computed with (null for quotes not computed here, e.g. demo data). */
    fareRuleId: p.uuid().nullable(),
    expiresAt: p.datetime(),
    createdAt: p.datetime(),
  },
});
export class Quote extends QuoteSchema.class {}
QuoteSchema.setClass(Quote);

export const entities = [FareRule, TimeOfDayMultiplier, Quote];
