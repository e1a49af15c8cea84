/**
 * Fare math: pure functions over integer minor units (bigint), never floats. The exact fare is a
 * rational number; it is rounded once, at the end, to the nearest 0.50 (ties round up).
 *
 *   fare = max(minimum, base + perKm·km + perMin·min) × surge + bookingFee   → nearest 0.50
 */
import type { VehicleType } from './entities.ts';

/** One vehicle type's price list; every amount in integer minor units of `currency`. */
export interface FareSchedule {
  vehicleType: VehicleType;
  currency: string;
  baseMinor: bigint;
  perKmMinor: bigint;
  perMinMinor: bigint;
  minimumMinor: bigint;
  bookingFeeMinor: bigint;
}

export interface TripMeasure {
  distanceM: number;
  durationS: number;
}

/** A surge multiplier as an integer count of hundredths: 100n is ×1.00, 150n is ×1.50. */
export type SurgeHundredths = bigint;
export const NO_SURGE: SurgeHundredths = 100n;

/** Fares are rounded to 0.50 of a two-digit currency (EGP): 50 minor units. */
export const FARE_ROUNDING_STEP_MINOR = 50n;

export interface Fare {
  /** The metered parts, each rounded half-up to a minor unit; shown to the rider as the breakdown. */
  baseMinor: bigint;
  distanceMinor: bigint;
  timeMinor: bigint;
  bookingFeeMinor: bigint;
  /** What the rider pays: computed from the exact parts, then rounded to the step. */
  totalMinor: bigint;
  surge: SurgeHundredths;
}

/** Metres per km × seconds per minute: the common denominator of the metered parts. */
const METERED_DENOMINATOR = 1000n * 60n;
const SURGE_DENOMINATOR = 100n;

/** n / d rounded to the nearest integer, ties up; both non-negative, d positive. */
export function divideRoundHalfUp(n: bigint, d: bigint): bigint {
  if (n < 0n || d <= 0n) throw new RangeError('divideRoundHalfUp expects n >= 0 and d > 0');
  return (2n * n + d) / (2n * d);
}

function measure(trip: TripMeasure) {
  if (!Number.isSafeInteger(trip.distanceM) || trip.distanceM < 0) throw new RangeError('distanceM must be a non-negative integer');
  if (!Number.isSafeInteger(trip.durationS) || trip.durationS < 0) throw new RangeError('durationS must be a non-negative integer');
  return { metres: BigInt(trip.distanceM), seconds: BigInt(trip.durationS) };
}

/** The fare of a trip under a schedule and a surge, exactly. */
export function computeFare(schedule: FareSchedule, trip: TripMeasure, surge: SurgeHundredths = NO_SURGE, step: bigint = FARE_ROUNDING_STEP_MINOR): Fare {
  if (surge < NO_SURGE) throw new RangeError('surge must be at least 1.00');
  const { metres, seconds } = measure(trip);
  // Everything below is in units of 1 / (60 000 × 100) minor unit, so no step divides inexactly.
  const metered = schedule.baseMinor * METERED_DENOMINATOR + schedule.perKmMinor * metres * 60n + schedule.perMinMinor * seconds * 1000n;
  const minimum = schedule.minimumMinor * METERED_DENOMINATOR;
  const subtotal = metered > minimum ? metered : minimum;
  const exactTotal = subtotal * surge + schedule.bookingFeeMinor * METERED_DENOMINATOR * SURGE_DENOMINATOR;
  const totalMinor = divideRoundHalfUp(exactTotal, METERED_DENOMINATOR * SURGE_DENOMINATOR * step) * step;
  return {
    baseMinor: schedule.baseMinor,
    distanceMinor: divideRoundHalfUp(schedule.perKmMinor * metres, 1000n),
    timeMinor: divideRoundHalfUp(schedule.perMinMinor * seconds, 60n),
    bookingFeeMinor: schedule.bookingFeeMinor,
    totalMinor,
    surge,
  };
}

/**
 * Splits a fare fixed elsewhere (the demo city's trips) into a breakdown that sums to it exactly:
 * booking fee, base and time fare as the schedule says, as far as the total allows; distance is the rest.
 */
export function splitFare(totalMinor: bigint, schedule: FareSchedule, trip: TripMeasure): Fare {
  if (totalMinor < 0n) throw new RangeError('totalMinor must be non-negative');
  const { seconds } = measure(trip);
  let left = totalMinor;
  const take = (wanted: bigint) => {
    const part = wanted < left ? wanted : left;
    left -= part;
    return part;
  };
  const bookingFeeMinor = take(schedule.bookingFeeMinor);
  const baseMinor = take(schedule.baseMinor);
  const timeMinor = take(divideRoundHalfUp(schedule.perMinMinor * seconds, 60n));
  return { baseMinor, distanceMinor: left, timeMinor, bookingFeeMinor, totalMinor, surge: NO_SURGE };
}

/** "1.00", "1.50": the wire form of a surge multiplier. */
export function formatSurge(surge: SurgeHundredths): string {
  return `${surge / 100n}.${(surge % 100n).toString().padStart(2, '0')}`;
}
