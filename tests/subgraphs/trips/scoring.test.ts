import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commissionMinor } from '../../../subgraphs/trips/events.ts';
import { eligibleVehicleTypes, rankCandidates, SCORE_WEIGHTS, scoreCandidate, vehicleMatch, type Candidate } from '../../../subgraphs/trips/dispatch/scoring.ts';

const candidate = (overrides: Partial<Candidate> = {}): Candidate => ({
  driverId: '00000000-0000-4000-8000-000000000001',
  userId: '00000000-0000-4000-8000-0000000000a1',
  vehicleType: 'COMFORT',
  distanceM: 0,
  rating: 5,
  acceptanceRate: 1,
  completionRate: 1,
  idleSeconds: 600,
  ...overrides,
});

describe('dispatch scoring', () => {
  it('serves a sedan class with it or a better one, and XL only with XL', () => {
    assert.deepEqual(eligibleVehicleTypes('ECONOMY'), ['ECONOMY', 'COMFORT', 'PREMIUM']);
    assert.deepEqual(eligibleVehicleTypes('COMFORT'), ['COMFORT', 'PREMIUM']);
    assert.deepEqual(eligibleVehicleTypes('PREMIUM'), ['PREMIUM']);
    assert.deepEqual(eligibleVehicleTypes('XL'), ['XL']);
  });

  it('rates the quoted type 1, one tier up 0.5, two tiers up 0, anything else 0', () => {
    assert.equal(vehicleMatch('ECONOMY', 'ECONOMY'), 1);
    assert.equal(vehicleMatch('ECONOMY', 'COMFORT'), 0.5);
    assert.equal(vehicleMatch('ECONOMY', 'PREMIUM'), 0);
    assert.equal(vehicleMatch('PREMIUM', 'ECONOMY'), 0);
    assert.equal(vehicleMatch('COMFORT', 'XL'), 0);
    assert.equal(vehicleMatch('XL', 'XL'), 1);
  });

  it('weighs distance 40 %, rating 20 %, acceptance 15 %, completion 10 %, vehicle 10 % and idle time 5 %', () => {
    assert.equal(Object.values(SCORE_WEIGHTS).reduce((sum, weight) => sum + weight, 0).toFixed(10), '1.0000000000');
    const perfect = candidate();
    assert.equal(scoreCandidate(perfect, 'COMFORT', 3000), 1);
    const close = (score: number, expected: number) => assert.ok(Math.abs(score - expected) < 1e-9, `${score} ≠ ${expected}`);
    close(scoreCandidate({ ...perfect, distanceM: 3000 }, 'COMFORT', 3000), 0.6);
    close(scoreCandidate({ ...perfect, distanceM: 1500 }, 'COMFORT', 3000), 0.8);
    close(scoreCandidate({ ...perfect, rating: 1 }, 'COMFORT', 3000), 0.8);
    close(scoreCandidate({ ...perfect, rating: 3 }, 'COMFORT', 3000), 0.9);
    close(scoreCandidate({ ...perfect, acceptanceRate: 0 }, 'COMFORT', 3000), 0.85);
    close(scoreCandidate({ ...perfect, completionRate: 0 }, 'COMFORT', 3000), 0.9);
    close(scoreCandidate({ ...perfect, vehicleType: 'PREMIUM' }, 'COMFORT', 3000), 0.95);
    close(scoreCandidate({ ...perfect, idleSeconds: 0 }, 'COMFORT', 3000), 0.95);
    close(scoreCandidate({ ...perfect, idleSeconds: 300 }, 'COMFORT', 3000), 0.975);
  });

  it('keeps every term within 0..1, whatever the inputs', () => {
    const wild = candidate({ distanceM: 10_000, rating: 9, acceptanceRate: -1, completionRate: 2, idleSeconds: 1e9 });
    const score = scoreCandidate(wild, 'COMFORT', 3000);
    assert.ok(score >= 0 && score <= 1, String(score));
    assert.equal(scoreCandidate(candidate({ rating: Number.NaN }), 'COMFORT', 3000), 0.8);
  });

  it('ranks best first, the nearer driver first on a tie, then by id', () => {
    const ranked = rankCandidates(
      [
        candidate({ driverId: 'c', distanceM: 1000, acceptanceRate: 0.2 }),
        candidate({ driverId: 'b', distanceM: 1000 }),
        candidate({ driverId: 'a', distanceM: 1000 }),
        candidate({ driverId: 'd', distanceM: 200 }),
      ],
      'COMFORT',
      3000,
    );
    assert.deepEqual(ranked.map((c) => c.driverId), ['d', 'a', 'b', 'c']);
    assert.ok(ranked[0]!.score > ranked[1]!.score);
  });

  it('prefers a nearby average driver to a distant excellent one', () => {
    const near = candidate({ driverId: 'near', distanceM: 300, rating: 4, acceptanceRate: 0.7, completionRate: 0.8, idleSeconds: 0 });
    const far = candidate({ driverId: 'far', distanceM: 2800 });
    assert.equal(rankCandidates([far, near], 'COMFORT', 3000)[0]!.driverId, 'near');
  });
});

describe('commission', () => {
  it('is fare × bps / 10 000, rounded half-up to the minor unit', () => {
    assert.equal(commissionMinor(8750n, 1500), 1313n); // 1312.5
    assert.equal(commissionMinor(8749n, 1500), 1312n); // 1312.35
    assert.equal(commissionMinor(10_000n, 0), 0n);
    assert.equal(commissionMinor(1n, 5000), 1n); // 0.5
    assert.equal(commissionMinor(99_999_999_999n, 10_000), 99_999_999_999n);
  });
});
