import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStraightLineRoutingProvider, haversineMeters } from '../../../platform/routing.ts';

describe('straight-line routing', () => {
  it('measures great-circle distances', () => {
    // one degree of latitude is about 111.2 km
    assert.ok(Math.abs(haversineMeters({ lat: 30, lng: 31 }, { lat: 31, lng: 31 }) - 111_195) < 10);
    assert.equal(haversineMeters({ lat: 30.0444, lng: 31.2357 }, { lat: 30.0444, lng: 31.2357 }), 0);
  });

  it('estimates the road as 1.3 × the straight line, driven at 25 km/h, in whole metres and seconds', async () => {
    const pickup = { lat: 30.0444, lng: 31.2357 };
    const dropoff = { lat: 30.0626, lng: 31.2497 };
    const straight = haversineMeters(pickup, dropoff);
    const route = await createStraightLineRoutingProvider().estimate(pickup, dropoff);
    assert.equal(route.distanceM, Math.round(straight * 1.3));
    assert.equal(route.durationS, Math.round(route.distanceM / (25_000 / 3600)));
    assert.ok(Number.isInteger(route.distanceM) && Number.isInteger(route.durationS));
  });

  it('takes its road factor and speed as options', async () => {
    const route = await createStraightLineRoutingProvider({ roadFactor: 1, averageSpeedKmh: 36 }).estimate({ lat: 0, lng: 0 }, { lat: 0, lng: 0.01 });
    assert.equal(route.durationS, Math.round(route.distanceM / 10));
  });
});
