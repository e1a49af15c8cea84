/**
 * Fare math: pure functions over integer minor units (bigint), never floats. The exact fare is a
 * rational number; it is rounded once, at the end, to the nearest 0.50 (ties round up).
 *
 *   fare = max(minimum, base + perKm·km + perMin·min) × timeOfDay × surge + bookingFee   → nearest 0.50
 *
 * The breakdown shows each part rounded to a minor unit, plus the lines that make it add up to the
 * fare exactly: the minimum-fare top-up, the time-of-day and surge amounts, and the rounding.
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

/** A multiplier as an integer count of hundredths: 100n is ×1.00, 150n is ×1.50. */
export type Hundredths = bigint;
export const NO_SURGE: Hundredths = 100n;
export const NO_MULTIPLIER: Hundredths = 100n;

export interface Multipliers {
  /** The city's time-of-day multiplier (rush hours, nights). Default ×1.00. */
  timeOfDay?: Hundredths;
  /** The pickup cell's surge. Default ×1.00. */
  surge?: Hundredths;
}

/** Fares are rounded to 0.50 of a two-digit currency (EGP): 50 minor units. */
export const FARE_ROUNDING_STEP_MINOR = 50n;

export interface Fare {
  /** The metered parts, each rounded half-up to a minor unit. */
  baseMinor: bigint;
  distanceMinor: bigint;
  timeMinor: bigint;
  /** What lifts the metered parts to the minimum fare (0 when the trip is above it). */
  minimumTopUpMinor: bigint;
  /** What the time-of-day multiplier adds to the fare before surge. */
  timeOfDayMinor: bigint;
  /** What surge adds on top of that. */
  surgeMinor: bigint;
  bookingFeeMinor: bigint;
  /** The fare minus every line above: the rounding to 0.50 (±0.25) plus the few cents the rounded lines drift from the exact fare. */
  roundingMinor: bigint;
  /** What the rider pays: computed from the exact parts, then rounded to the step. Every line above sums to it. */
  totalMinor: bigint;
  timeOfDay: Hundredths;
  surge: Hundredths;
}

/** Metres per km × seconds per minute: the common denominator of the metered parts. */
const METERED_DENOMINATOR = 1000n * 60n;
const HUNDRED = 100n;

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

/** The fare of a trip under a schedule and multipliers, exactly, with a breakdown that sums to it. */
export function computeFare(schedule: FareSchedule, trip: TripMeasure, multipliers: Multipliers = {}, step: bigint = FARE_ROUNDING_STEP_MINOR): Fare {
  const timeOfDay = multipliers.timeOfDay ?? NO_MULTIPLIER;
  const surge = multipliers.surge ?? NO_SURGE;
  if (surge < NO_SURGE) throw new RangeError('surge must be at least 1.00');
  if (timeOfDay < NO_MULTIPLIER) throw new RangeError('the time-of-day multiplier must be at least 1.00');
  const { metres, seconds } = measure(trip);
  // Everything below is in units of 1 / (60 000 × 100 × 100) minor unit, so no step divides inexactly.
  const metered = schedule.baseMinor * METERED_DENOMINATOR + schedule.perKmMinor * metres * 60n + schedule.perMinMinor * seconds * 1000n;
  const minimum = schedule.minimumMinor * METERED_DENOMINATOR;
  const subtotal = metered > minimum ? metered : minimum;
  const scale = METERED_DENOMINATOR * HUNDRED * HUNDRED;
  const exactTotal = subtotal * timeOfDay * surge + schedule.bookingFeeMinor * scale;
  const totalMinor = divideRoundHalfUp(exactTotal, scale * step) * step;

  const baseMinor = schedule.baseMinor;
  const distanceMinor = divideRoundHalfUp(schedule.perKmMinor * metres, 1000n);
  const timeMinor = divideRoundHalfUp(schedule.perMinMinor * seconds, 60n);
  const shownMetered = baseMinor + distanceMinor + timeMinor;
  // Each rounded part is within half a unit of its exact value, so below the minimum the shown parts never exceed it.
  const minimumTopUpMinor = metered >= minimum || shownMetered >= schedule.minimumMinor ? 0n : schedule.minimumMinor - shownMetered;
  const shownSubtotal = shownMetered + minimumTopUpMinor;
  const timeOfDayMinor = divideRoundHalfUp(shownSubtotal * (timeOfDay - HUNDRED), HUNDRED);
  const surgeMinor = divideRoundHalfUp((shownSubtotal + timeOfDayMinor) * (surge - HUNDRED), HUNDRED);
  const roundingMinor = totalMinor - shownSubtotal - timeOfDayMinor - surgeMinor - schedule.bookingFeeMinor;
  return {
    baseMinor,
    distanceMinor,
    timeMinor,
    minimumTopUpMinor,
    timeOfDayMinor,
    surgeMinor,
    bookingFeeMinor: schedule.bookingFeeMinor,
    roundingMinor,
    totalMinor,
    timeOfDay,
    surge,
  };
}

/** Every line of a breakdown; they sum to the fare. */
export function breakdownSum(fare: Omit<Fare, 'totalMinor' | 'timeOfDay' | 'surge'>): bigint {
  return fare.baseMinor + fare.distanceMinor + fare.timeMinor + fare.minimumTopUpMinor + fare.timeOfDayMinor + fare.surgeMinor + fare.bookingFeeMinor + fare.roundingMinor;
}

/** Commission on a fare, in minor units: fare × bps / 10 000, rounded half-up (what trips charges the driver). */
export function commissionOf(fareMinor: bigint, commissionBps: number): bigint {
  return divideRoundHalfUp(fareMinor * BigInt(commissionBps), 10_000n);
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
  const zero = 0n;
  return { baseMinor, distanceMinor: left, timeMinor, minimumTopUpMinor: zero, timeOfDayMinor: zero, surgeMinor: zero, bookingFeeMinor, roundingMinor: zero, totalMinor, timeOfDay: NO_MULTIPLIER, surge: NO_SURGE };
}

/** "1.00", "1.50": the wire form of a multiplier. */
export function formatMultiplier(surge: Hundredths): string {
  return `${surge / 100n}.${(surge % 100n).toString().padStart(2, '0')}`;
}

/** "1.30" → 130n; anything but a non-negative decimal with at most two places is an error. */
export function parseHundredths(value: string): Hundredths {
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(value.trim());
  if (!match) throw new RangeError(`Not a multiplier: ${value}`);
  return BigInt(match[1]) * 100n + BigInt((match[2] ?? '').padEnd(2, '0'));
}
