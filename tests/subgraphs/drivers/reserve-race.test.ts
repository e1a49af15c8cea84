/**
 * Reservations racing in the Redis live store: on one Redis a reservation is one script over the ranking;
 * on a cluster, where drivers' buckets may lie on several masters, one compare-and-set per driver, sent a
 * round at a time (redis-store.ts reserve). Many trips reserving the same drivers at once must still never
 * share a driver, never get more than their `atMost`, and each get the first drivers of its ranking that
 * were free when it asked. On the configured Redis (a cluster in CI's cluster step).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../../../platform/demo-city.ts';
import type { Redis } from '../../../platform/redis.ts';
import type { DriverRef } from '../../../subgraphs/drivers/availability.ts';
import { DEFAULT_RULES } from '../../../subgraphs/drivers/live/fixes.ts';
import { driverKeys } from '../../../subgraphs/drivers/live/keys.ts';
import { RedisLiveStore } from '../../../subgraphs/drivers/live/redis-store.ts';
import { REDIS_CONFIGURED, testRedis } from '../../support/redis-env.ts';
import { deleteNamespace } from './live-stack.ts';

describe('reservations racing in the Redis live store', { skip: !REDIS_CONFIGURED && 'needs Redis (REDIS_URL or REDIS_CLUSTER_NODES)' }, () => {
  const namespace = `reserve-race-${randomUUID()}`;
  let redis: Redis;
  let store: RedisLiveStore;
  const drivers: DriverRef[] = Array.from({ length: 24 }, () => ({ id: randomUUID(), userId: randomUUID(), vehicleType: 'ECONOMY' }));
  const ids = drivers.map((driver) => driver.id);

  before(async () => {
    redis = testRedis('reserve-race')!;
    store = new RedisLiveStore(redis, driverKeys(namespace), DEFAULT_RULES);
    await Promise.all(drivers.map((driver) => store.transition(driver, 'AVAILABLE', ['OFFLINE'], Date.now())));
  });
  after(async () => {
    await deleteNamespace(namespace);
    redis?.disconnect();
  });

  it('never gives a driver to two trips, nor a trip more than atMost, over twenty rounds of forty trips at once', async () => {
    const rnd = seededRandom(2024);
    for (let round = 0; round < 20; round++) {
      const now = Date.now();
      // Each trip ranks some of the drivers in its own order and wants 1 to 4 of them.
      const trips = Array.from({ length: 40 }, () => {
        const ranking = ids.filter(() => rnd() < 0.7).sort(() => rnd() - 0.5);
        return { tripId: randomUUID(), ranking, atMost: 1 + Math.floor(rnd() * 4) };
      });
      const results = await Promise.all(trips.map((trip) => store.reserve(trip.tripId, trip.ranking, now, trip.atMost)));

      const owner = new Map<string, string>();
      results.forEach((reserved, i) => {
        const trip = trips[i]!;
        assert.ok(reserved.length <= trip.atMost, `round ${round}: ${reserved.length} reserved for atMost ${trip.atMost}`);
        const positions = reserved.map((id) => trip.ranking.indexOf(id));
        assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'in ranking order');
        for (const id of reserved) {
          assert.equal(owner.get(id), undefined, `round ${round}: driver ${id} reserved for two trips`);
          owner.set(id, trip.tripId);
        }
        // A trip short of atMost went down its whole ranking: every driver of it went to some trip.
        if (reserved.length < trip.atMost) for (const id of trip.ranking) assert.ok(results.some((other) => other.includes(id)), `round ${round}: ${id} was skipped though free`);
      });
      const states = await store.read(ids);
      for (const id of ids) {
        const state = states.get(id)!;
        assert.deepEqual([state.availability, state.tripId], owner.has(id) ? ['OFFERED', owner.get(id)] : ['AVAILABLE', null], `round ${round}: driver ${id}`);
      }
      // Every trip lets its drivers go (as TripMatched or the trip's end would); nobody stays OFFERED.
      const released = (await Promise.all(trips.map((trip) => store.releaseTrip(trip.tripId, null, now)))).flat();
      assert.deepEqual([...released].sort(), [...owner.keys()].sort());
    }
  });
});
