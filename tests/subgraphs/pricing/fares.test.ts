import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { breakdownSum, commissionOf, computeFare, divideRoundHalfUp, formatMultiplier, parseHundredths, splitFare, type FareSchedule } from '../../../subgraphs/pricing/fares.ts';

/** The launch price lists, as the migration seeds them (EGP minor units). */
const SCHEDULES: Record<string, FareSchedule> = {
  ECONOMY: { vehicleType: 'ECONOMY', currency: 'EGP', baseMinor: 1000n, perKmMinor: 350n, perMinMinor: 50n, minimumMinor: 1500n, bookingFeeMinor: 0n },
  COMFORT: { vehicleType: 'COMFORT', currency: 'EGP', baseMinor: 1500n, perKmMinor: 500n, perMinMinor: 75n, minimumMinor: 2500n, bookingFeeMinor: 0n },
  PREMIUM: { vehicleType: 'PREMIUM', currency: 'EGP', baseMinor: 2500n, perKmMinor: 800n, perMinMinor: 100n, minimumMinor: 4000n, bookingFeeMinor: 0n },
  XL: { vehicleType: 'XL', currency: 'EGP', baseMinor: 2000n, perKmMinor: 600n, perMinMinor: 80n, minimumMinor: 3500n, bookingFeeMinor: 0n },
};
const { ECONOMY } = SCHEDULES;

describe('fare math', () => {
  it('charges the minimum fare when the metered fare is below it', () => {
    // 10.00 + 0.5 km × 3.50 + 2 min × 0.50 = 12.75 < 15.00
    const fare = computeFare(ECONOMY, { distanceM: 500, durationS: 120 });
    assert.equal(fare.totalMinor, 1500n);
    assert.deepEqual([fare.baseMinor, fare.distanceMinor, fare.timeMinor, fare.bookingFeeMinor], [1000n, 175n, 100n, 0n]);
  });

  it('charges the metered fare when it is above the minimum', () => {
    // 10.00 + 5 km × 3.50 + 10 min × 0.50 = 32.50
    assert.equal(computeFare(ECONOMY, { distanceM: 5000, durationS: 600 }).totalMinor, 3250n);
  });

  it('rounds the fare to the nearest 0.50', () => {
    assert.equal(computeFare(ECONOMY, { distanceM: 5100, durationS: 600 }).totalMinor, 3300n, '32.85 → 33.00');
    assert.equal(computeFare(ECONOMY, { distanceM: 5050, durationS: 600 }).totalMinor, 3250n, '32.675 → 32.50');
    assert.equal(computeFare(ECONOMY, { distanceM: 5000, durationS: 629 }).totalMinor, 3250n, '32.7417 → 32.50');
  });

  it('rounds a fare exactly between two steps up', () => {
    // 10.00 + 17.50 + 10.5 min × 0.50 = 32.75, exactly between 32.50 and 33.00
    assert.equal(computeFare(ECONOMY, { distanceM: 5000, durationS: 630 }).totalMinor, 3300n);
  });

  it('rounds on the exact fare, not on the rounded parts', () => {
    // 10.00 + 0.07 km × 3.50 = 10.245 exactly → 10.00; the rounded parts (10.00 + 0.25) would give 10.50
    const fare = computeFare({ ...ECONOMY, minimumMinor: 0n }, { distanceM: 70, durationS: 0 });
    assert.equal(fare.distanceMinor, 25n);
    assert.equal(fare.totalMinor, 1000n);
  });

  const everyType: Array<[string, bigint]> = [
    // 7.3 km, 17 min
    ['ECONOMY', 4400n], // 10.00 + 25.55 + 8.50 = 44.05 → 44.00
    ['COMFORT', 6450n], // 15.00 + 36.50 + 12.75 = 64.25 → 64.50 (tie, up)
    ['PREMIUM', 10050n], // 25.00 + 58.40 + 17.00 = 100.40 → 100.50
    ['XL', 7750n], // 20.00 + 43.80 + 13.60 = 77.40 → 77.50
  ];
  for (const [type, expected] of everyType) {
    it(`prices a 7.3 km, 17 minute ${type} trip with its own price list`, () => {
      assert.equal(computeFare(SCHEDULES[type], { distanceM: 7300, durationS: 1020 }).totalMinor, expected);
    });
  }

  const minimums: Array<[string, bigint]> = [['ECONOMY', 1500n], ['COMFORT', 2500n], ['PREMIUM', 4000n], ['XL', 3500n]];
  for (const [type, minimum] of minimums) {
    it(`charges the ${type} minimum for a trip of no length`, () => {
      assert.equal(computeFare(SCHEDULES[type], { distanceM: 0, durationS: 0 }).totalMinor, minimum);
    });
  }

  it('applies surge to the fare after the minimum, and the booking fee after surge', () => {
    const schedule = { ...ECONOMY, bookingFeeMinor: 200n };
    // max(15.00, 12.75) × 1.50 + 2.00 = 24.50
    assert.equal(computeFare(schedule, { distanceM: 500, durationS: 120 }, { surge: 150n }).totalMinor, 2450n);
    // 32.50 × 1.25 + 2.00 = 42.625 → 42.50
    assert.equal(computeFare(schedule, { distanceM: 5000, durationS: 600 }, { surge: 125n }).totalMinor, 4250n);
  });

  it('multiplies by the time of day, then by surge, and shows both amounts as lines', () => {
    // 44.05 × 1.30 (evening rush) × 1.30 (surge) = 74.4445 → 74.50
    const fare = computeFare(ECONOMY, { distanceM: 7300, durationS: 1020 }, { timeOfDay: 130n, surge: 130n });
    assert.equal(fare.totalMinor, 7450n);
    assert.deepEqual(
      [fare.baseMinor, fare.distanceMinor, fare.timeMinor, fare.minimumTopUpMinor, fare.timeOfDayMinor, fare.surgeMinor, fare.bookingFeeMinor, fare.roundingMinor],
      [1000n, 2555n, 850n, 0n, 1322n, 1718n, 0n, 5n], // 13.215 → 13.22; (44.05 + 13.22) × 0.30 = 17.181 → 17.18; rounding 0.05
    );
    assert.deepEqual([fare.timeOfDay, fare.surge], [130n, 130n]);
  });

  it('shows the minimum-fare top-up as its own line, and multiplies the minimum', () => {
    // max(15.00, 12.75) × 1.10 (late night) = 16.50
    const fare = computeFare(ECONOMY, { distanceM: 500, durationS: 120 }, { timeOfDay: 110n });
    assert.equal(fare.totalMinor, 1650n);
    assert.deepEqual([fare.minimumTopUpMinor, fare.timeOfDayMinor, fare.surgeMinor, fare.roundingMinor], [225n, 150n, 0n, 0n]);
  });

  it('shows a negative rounding line when the fare is rounded down', () => {
    // 32.675 → 32.50
    const fare = computeFare(ECONOMY, { distanceM: 5050, durationS: 600 });
    assert.equal(fare.roundingMinor, -18n); // parts 10.00 + 17.68 + 5.00 = 32.68
    assert.equal(breakdownSum(fare), fare.totalMinor);
  });

  it('makes every breakdown add up to its fare exactly, whatever the trip, multipliers and fees', () => {
    let state = 7;
    const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31);
    for (let i = 0; i < 2_000; i++) {
      const schedule = { ...SCHEDULES[['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'][i % 4]], bookingFeeMinor: BigInt(next() % 500) };
      const fare = computeFare(schedule, { distanceM: next() % 100_000, durationS: next() % 10_000 }, { timeOfDay: 100n + BigInt(next() % 50), surge: 100n + BigInt(next() % 201) });
      assert.equal(breakdownSum(fare), fare.totalMinor);
      assert.ok(fare.minimumTopUpMinor >= 0n && fare.timeOfDayMinor >= 0n && fare.surgeMinor >= 0n);
      assert.ok(fare.roundingMinor >= -32n && fare.roundingMinor <= 32n, `rounding ${fare.roundingMinor}`);
    }
  });

  it('refuses a time-of-day multiplier below 1.00', () => {
    assert.throws(() => computeFare(ECONOMY, { distanceM: 1000, durationS: 60 }, { timeOfDay: 90n }), RangeError);
  });

  it('computes commission as fare × bps / 10 000, half up', () => {
    assert.deepEqual([commissionOf(2500n, 1500), commissionOf(3650n, 1800), commissionOf(3350n, 1500), commissionOf(3330n, 1500)], [375n, 657n, 503n, 500n]);
  });

  it('refuses a surge below 1.00 and non-integer measures', () => {
    assert.throws(() => computeFare(ECONOMY, { distanceM: 1000, durationS: 60 }, { surge: 99n }), RangeError);
    assert.throws(() => computeFare(ECONOMY, { distanceM: 10.5, durationS: 60 }), RangeError);
    assert.throws(() => computeFare(ECONOMY, { distanceM: 100, durationS: -1 }), RangeError);
  });

  it('always lands on a 0.50 step within 0.25 of the exact fare, for any trip up to 100 km', () => {
    let state = 42;
    const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31);
    for (let i = 0; i < 2_000; i++) {
      const schedule = SCHEDULES[['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'][i % 4]];
      const trip = { distanceM: next() % 130_000, durationS: next() % 20_000 };
      const surge = 100n + BigInt(next() % 200);
      const { totalMinor } = computeFare(schedule, trip, { surge });
      assert.equal(totalMinor % 50n, 0n);
      // exact = (max(min, base + perKm·m/1000 + perMin·s/60) × surge/100 + fee), scaled by 6 000 000
      const metered = schedule.baseMinor * 60_000n + schedule.perKmMinor * BigInt(trip.distanceM) * 60n + schedule.perMinMinor * BigInt(trip.durationS) * 1000n;
      const subtotal = metered > schedule.minimumMinor * 60_000n ? metered : schedule.minimumMinor * 60_000n;
      const exact = subtotal * surge + schedule.bookingFeeMinor * 6_000_000n;
      const error = totalMinor * 6_000_000n - exact;
      assert.ok(error >= -25n * 6_000_000n && error < 25n * 6_000_000n, `fare ${totalMinor} for ${JSON.stringify(trip)}`);
    }
  });

  it('rounds integer division half up', () => {
    assert.deepEqual([divideRoundHalfUp(5n, 10n), divideRoundHalfUp(4n, 10n), divideRoundHalfUp(15n, 10n), divideRoundHalfUp(0n, 3n)], [1n, 0n, 2n, 0n]);
    assert.throws(() => divideRoundHalfUp(-1n, 2n), RangeError);
  });

  it('writes surge multipliers as two-decimal strings', () => {
    assert.deepEqual([formatMultiplier(100n), formatMultiplier(150n), formatMultiplier(205n)], ['1.00', '1.50', '2.05']);
    assert.deepEqual([parseHundredths('1.00'), parseHundredths('1.3'), parseHundredths('2.05'), parseHundredths('3')], [100n, 130n, 205n, 300n]);
    assert.throws(() => parseHundredths('1.005'), RangeError);
    assert.throws(() => parseHundredths('-1.00'), RangeError);
  });
});

describe('splitting a given fare into a breakdown', () => {
  it('sums to the fare exactly and never goes negative', () => {
    for (const [type, schedule] of Object.entries(SCHEDULES)) {
      for (const totalMinor of [0n, 1500n, 2250n, 9950n]) {
        const fare = splitFare(totalMinor, { ...schedule, bookingFeeMinor: 100n }, { distanceM: 4000, durationS: 700 });
        const parts = [fare.baseMinor, fare.distanceMinor, fare.timeMinor, fare.bookingFeeMinor];
        assert.equal(parts.reduce((a, b) => a + b, 0n), totalMinor, `${type} ${totalMinor}`);
        assert.ok(parts.every((part) => part >= 0n));
      }
    }
  });

  it('shows the schedule’s base and time fare, and the rest as distance', () => {
    // 50.00 on ECONOMY, 10 min: base 10.00, time 5.00, distance 35.00
    const fare = splitFare(5000n, ECONOMY, { distanceM: 8000, durationS: 600 });
    assert.deepEqual([fare.baseMinor, fare.timeMinor, fare.distanceMinor, fare.bookingFeeMinor], [1000n, 500n, 3500n, 0n]);
  });
});
