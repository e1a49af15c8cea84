import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatMultiplier } from '../../../subgraphs/pricing/fares.ts';
import { QUIET_CELL, smoothSurge, surgeTarget, type SurgeState } from '../../../subgraphs/pricing/surge.ts';

const target = (demand: number, supply: number | null) => formatMultiplier(surgeTarget(demand, supply));
const MINUTE = 60_000;

describe('the surge step table', () => {
  const boundaries: Array<[string, number, number, string]> = [
    ['ratio 0.9 (below 1)', 9, 10, '1.00'],
    ['ratio exactly 1', 10, 10, '1.10'],
    ['ratio 1.4', 14, 10, '1.10'],
    ['ratio exactly 1.5', 15, 10, '1.30'],
    ['ratio 1.9', 19, 10, '1.30'],
    ['ratio exactly 2', 20, 10, '1.50'],
    ['ratio 2.9', 29, 10, '1.50'],
    ['ratio exactly 3', 30, 10, '1.80'],
    ['ratio 3.9', 39, 10, '1.80'],
    ['ratio exactly 4: × 0.5', 40, 10, '2.00'],
    ['ratio 4.5: × 0.5', 45, 10, '2.25'],
    ['ratio 13/3: × 0.5, rounded half up', 13, 3, '2.17'],
    ['ratio 5.99: × 0.5', 599, 100, '3.00'],
    ['ratio exactly 6: the cap', 60, 10, '3.00'],
    ['ratio 50: still the cap', 50, 1, '3.00'],
  ];
  for (const [what, demand, supply, expected] of boundaries) {
    it(`gives ×${expected} at ${what}`, () => {
      assert.equal(target(demand, supply), expected);
    });
  }

  it('is ×1.00 with no demand, whatever the supply', () => {
    assert.deepEqual([target(0, 0), target(0, 25)], ['1.00', '1.00']);
  });

  it('is ×1.00 when no supply reading is known (no data)', () => {
    assert.deepEqual([target(0, null), target(40, null)], ['1.00', '1.00']);
  });

  it('treats demand with no available driver as the top of the table, ratio at least 4', () => {
    assert.deepEqual([target(1, 0), target(4, 0), target(5, 0), target(6, 0), target(100, 0)], ['2.00', '2.00', '2.50', '3.00', '3.00']);
  });

  it('refuses negative or fractional counts', () => {
    assert.throws(() => surgeTarget(-1, 3), RangeError);
    assert.throws(() => surgeTarget(1.5, 3), RangeError);
    assert.throws(() => surgeTarget(1, -3), RangeError);
  });
});

describe('surge smoothing', () => {
  const at = (state: SurgeState) => formatMultiplier(state.multiplier);
  /** Ticks every `intervalMs` from t = 0 toward a fixed target; the multiplier after each tick. */
  function run(start: SurgeState, goal: bigint, ticks: number, intervalMs = MINUTE, from = 0) {
    const seen: string[] = [];
    let state = start;
    for (let i = 1; i <= ticks; i++) {
      state = smoothSurge(state, goal, from + i * intervalMs);
      seen.push(at(state));
    }
    return { seen, state };
  }

  it('rises by at most 0.20 per minute toward its target', () => {
    assert.deepEqual(run(QUIET_CELL, 200n, 6).seen, ['1.20', '1.40', '1.60', '1.80', '2.00', '2.00']);
  });

  it('moves a cell nobody has seen by one full step at once', () => {
    assert.equal(at(smoothSurge(QUIET_CELL, 300n, 0)), '1.20');
  });

  it('keeps the same rate with shorter ticks: 0.01 per 3 seconds', () => {
    const { seen } = run({ multiplier: 100n, changedAt: 0, raisedAt: null }, 300n, 40, 1_500);
    assert.equal(seen[0], '1.00', 'after 1.5 s nothing has accrued yet');
    assert.equal(seen[1], '1.01', 'after 3 s one hundredth has');
    assert.equal(seen.at(-1), '1.20', 'after 60 s of short ticks, 0.20');
  });

  it('never moves more than 0.20 at once, however long the cell was quiet', () => {
    assert.equal(at(smoothSurge({ multiplier: 100n, changedAt: 0, raisedAt: null }, 300n, 60 * MINUTE)), '1.20');
  });

  it('holds a raised surge for 5 minutes before it may fall', () => {
    const raised: SurgeState = { multiplier: 180n, changedAt: 0, raisedAt: 0 };
    assert.equal(at(smoothSurge(raised, 100n, 4 * MINUTE + 59_999)), '1.80', '4:59.999 after the rise: held');
    assert.equal(at(smoothSurge(raised, 100n, 5 * MINUTE)), '1.60', 'at 5:00 it falls, by at most 0.20');
  });

  it('falls by at most 0.20 per minute once the hold is over', () => {
    const { seen } = run({ multiplier: 180n, changedAt: 0, raisedAt: 0 }, 100n, 9);
    assert.deepEqual(seen, ['1.80', '1.80', '1.80', '1.80', '1.60', '1.40', '1.20', '1.00', '1.00']);
  });

  it('restarts the hold with every rise', () => {
    let state = smoothSurge({ multiplier: 120n, changedAt: 0, raisedAt: 0 }, 140n, 4 * MINUTE); // raised again at 4:00
    state = smoothSurge(state, 100n, 6 * MINUTE);
    assert.equal(at(state), '1.40', '2 minutes after the last rise: held');
    assert.equal(at(smoothSurge(state, 100n, 9 * MINUTE)), '1.20');
  });

  it('never goes above 3.00, even from a stored value above it', () => {
    assert.equal(at(run({ multiplier: 290n, changedAt: 0, raisedAt: 0 }, 900n, 3).state), '3.00');
    assert.equal(at(smoothSurge({ multiplier: 350n, changedAt: 0, raisedAt: 0 }, 350n, MINUTE)), '3.00');
  });

  it('returns to 1.00 when the data is gone (target 1.00), after the hold', () => {
    const { state } = run({ multiplier: 140n, changedAt: 0, raisedAt: 0 }, surgeTarget(0, null), 10);
    assert.equal(at(state), '1.00');
  });

  it('stays put at its target', () => {
    const state: SurgeState = { multiplier: 130n, changedAt: 0, raisedAt: 0 };
    assert.equal(smoothSurge(state, 130n, 10 * MINUTE), state);
  });
});
