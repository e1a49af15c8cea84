import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { localTime, parseClockTime, parseWeekdays, windowContains } from '../../../platform/time-windows.ts';
import { formatMultiplier } from '../../../subgraphs/pricing/fares.ts';
import { LAUNCH_TIME_OF_DAY } from '../../../subgraphs/pricing/migrations.ts';
import { priceListsInForce, timeOfDayMultiplier, windowsInForce, type PriceList, type TimeOfDayWindow } from '../../../subgraphs/pricing/price-lists.ts';

const CAIRO = 'Africa/Cairo';
const LAUNCH = new Date('2025-01-01T00:00:00Z');

/** The launch windows exactly as migration 0002 seeds them. */
const WINDOWS: TimeOfDayWindow[] = LAUNCH_TIME_OF_DAY.map(([id, name, days, start, end, multiplier]) => ({
  id,
  name,
  days: parseWeekdays(days),
  startMinute: parseClockTime(start),
  endMinute: parseClockTime(end),
  multiplier: BigInt(multiplier.replace('.', '')),
  effectiveFrom: LAUNCH,
}));

/** Cairo is UTC+2 in January 2026 (no daylight saving then): Thursday 1 January, so Sunday the 4th … Saturday the 10th. */
const cairoWinter = (day: number, time: string) => new Date(`2026-01-${String(day).padStart(2, '0')}T${time}:00+02:00`);
const multiplierAt = (at: Date, windows = WINDOWS) => formatMultiplier(timeOfDayMultiplier(windows, at, CAIRO));

describe('time-of-day multipliers in Cairo time', () => {
  const cases: Array<[string, Date, string]> = [
    ['Sunday 06:59, before the morning rush', cairoWinter(4, '06:59'), '1.00'],
    ['Sunday 07:00, the morning rush begins', cairoWinter(4, '07:00'), '1.20'],
    ['Sunday 09:59, still the morning rush', cairoWinter(4, '09:59'), '1.20'],
    ['Sunday 10:00, the morning rush is over', cairoWinter(4, '10:00'), '1.00'],
    ['Thursday 16:00, the evening rush begins', cairoWinter(8, '16:00'), '1.30'],
    ['Thursday 19:59, still the evening rush', cairoWinter(8, '19:59'), '1.30'],
    ['Thursday 20:00, the evening rush is over', cairoWinter(8, '20:00'), '1.00'],
    ['Friday 08:00, no rush on the weekend', cairoWinter(9, '08:00'), '1.00'],
    ['Saturday 17:00, no rush on the weekend', cairoWinter(10, '17:00'), '1.00'],
    ['Tuesday 22:59, before late night', cairoWinter(6, '22:59'), '1.00'],
    ['Tuesday 23:00, late night begins', cairoWinter(6, '23:00'), '1.10'],
    ['Wednesday 00:30, late night wraps past midnight', cairoWinter(7, '00:30'), '1.10'],
    ['Wednesday 04:59, still late night', cairoWinter(7, '04:59'), '1.10'],
    ['Wednesday 05:00, late night is over', cairoWinter(7, '05:00'), '1.00'],
    ['Thursday 21:00, not Friday night', cairoWinter(8, '21:00'), '1.00'],
    ['Friday 20:59, before Friday night', cairoWinter(9, '20:59'), '1.00'],
    ['Friday 21:00, Friday night begins', cairoWinter(9, '21:00'), '1.40'],
    ['Friday 23:30, Friday night beats late night (the highest applies)', cairoWinter(9, '23:30'), '1.40'],
    ['Saturday 02:59, Friday night wraps past midnight', cairoWinter(10, '02:59'), '1.40'],
    ['Saturday 03:00, Friday night is over and late night goes on', cairoWinter(10, '03:00'), '1.10'],
    ['Saturday 05:00, everything is over', cairoWinter(10, '05:00'), '1.00'],
  ];
  for (const [what, at, expected] of cases) {
    it(`is ×${expected} on ${what}`, () => {
      assert.equal(multiplierAt(at), expected);
    });
  }

  it('reads the wall clock of Cairo, daylight saving included', () => {
    // 04:00 UTC is 07:00 in Cairo in July (UTC+3) but 06:00 in January (UTC+2).
    assert.equal(multiplierAt(new Date('2026-07-05T04:00:00Z')), '1.20');
    assert.equal(multiplierAt(new Date('2026-01-04T04:00:00Z')), '1.00');
    assert.deepEqual(localTime(new Date('2026-07-05T04:00:00Z'), CAIRO), { weekday: 0, minute: 7 * 60 });
  });

  it('uses the newest version of a window once it is in effect, and drops a retired one', () => {
    const revised: TimeOfDayWindow[] = [
      ...WINDOWS,
      { ...WINDOWS[0], id: 'morning-v2', multiplier: 150n, effectiveFrom: cairoWinter(5, '00:00') },
      { ...WINDOWS[3], id: 'friday-retired', multiplier: 100n, effectiveFrom: cairoWinter(9, '00:00') },
    ];
    assert.equal(multiplierAt(cairoWinter(4, '08:00'), revised), '1.20', 'Sunday: the revision is not in effect yet');
    assert.equal(multiplierAt(cairoWinter(5, '08:00'), revised), '1.50', 'Monday: it is');
    assert.equal(multiplierAt(cairoWinter(9, '22:00'), revised), '1.00', 'Friday night is retired: 22:00 is neither rush nor late night');
    assert.equal(windowsInForce(revised, cairoWinter(9, '22:00')).length, 4);
  });

  it('rejects malformed days and times rather than ignoring them', () => {
    assert.throws(() => parseWeekdays('SUN FUNDAY'), RangeError);
    assert.throws(() => parseClockTime('24:00'), RangeError);
    assert.deepEqual([parseClockTime('07:30'), parseClockTime('23:59:00')], [450, 1439]);
  });

  it('matches a window that wraps past midnight only on the days after the ones it starts on', () => {
    const saturdayNight = { days: parseWeekdays('SAT'), startMinute: 22 * 60, endMinute: 2 * 60 };
    assert.ok(windowContains(saturdayNight, { weekday: 0, minute: 60 }), 'Sunday 01:00');
    assert.ok(!windowContains(saturdayNight, { weekday: 6, minute: 60 }), 'Saturday 01:00 belongs to Friday night');
  });
});

describe('fare rules in force', () => {
  const rule = (id: string, effectiveFrom: string, baseMinor: bigint): PriceList => ({
    id,
    vehicleType: 'ECONOMY',
    currency: 'EGP',
    baseMinor,
    perKmMinor: 350n,
    perMinMinor: 50n,
    minimumMinor: 1500n,
    bookingFeeMinor: 0n,
    cancellationFeeMinor: 1000n,
    commissionBps: 1500,
    effectiveFrom: new Date(effectiveFrom),
  });
  const rules = [rule('launch', '2025-01-01T00:00:00Z', 1000n), rule('spring', '2026-03-01T00:00:00Z', 1200n), rule('future', '2030-01-01T00:00:00Z', 9900n)];

  it('applies the newest rule whose date has come', () => {
    assert.equal(priceListsInForce(rules, new Date('2026-02-28T23:59:59Z')).get('ECONOMY')?.id, 'launch');
    assert.equal(priceListsInForce(rules, new Date('2026-03-01T00:00:00Z')).get('ECONOMY')?.id, 'spring');
  });

  it('never uses a rule before its date', () => {
    assert.equal(priceListsInForce(rules, new Date('2029-12-31T23:59:59Z')).get('ECONOMY')?.id, 'spring');
    assert.equal(priceListsInForce(rules, new Date('2030-01-01T00:00:00Z')).get('ECONOMY')?.id, 'future');
    assert.equal(priceListsInForce(rules, new Date('2024-12-31T00:00:00Z')).get('ECONOMY'), undefined);
  });
});
