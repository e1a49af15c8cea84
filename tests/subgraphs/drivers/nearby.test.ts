import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../../../platform/demo-city.ts';
import { InProcessPubSub } from '../../../platform/pubsub.ts';
import { transitionDriver, type DriverRef } from '../../../subgraphs/drivers/availability.ts';
import { VEHICLE_TYPES, type VehicleType } from '../../../subgraphs/drivers/entities.ts';
import { EmbeddedLiveStore } from '../../../subgraphs/drivers/live/embedded-store.ts';
import { DEFAULT_RULES, type Fix } from '../../../subgraphs/drivers/live/fixes.ts';
import { driverKeys } from '../../../subgraphs/drivers/live/keys.ts';
import { RedisLiveStore } from '../../../subgraphs/drivers/live/redis-store.ts';
import { rankNearby, type LiveStore, type NearbyQuery } from '../../../subgraphs/drivers/live/store.ts';
import { loadSigningKey, signAccessToken } from '../../../subgraphs/accounts/signing-key.ts';
import { createLogger } from '../../../platform/logger.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { testRedis } from '../../support/redis-env.ts';
import { deleteNamespace, isoAgo, offset, REDIS, startLiveStack, type LiveStack } from './live-stack.ts';

const CAIRO = { lat: 30.0444, lng: 31.2357 };
const NEARBY = `query($near: LatLngInput!, $radiusM: Int, $vehicleType: VehicleType, $first: Int) {
  nearbyDrivers(near: $near, radiusM: $radiusM, vehicleType: $vehicleType, first: $first) { distanceM lastSeenAt location { lat lng } driver { id vehicle { plate type } } }
}`;


/** The reference: every known driver, the textbook haversine (on Redis's earth radius), sorted in full. */
function bruteForce(world: readonly WorldDriver[], query: NearbyQuery, freshSince: number) {
  const R = 6372797.560856;
  const rad = (degrees: number) => (degrees * Math.PI) / 180;
  const distance = (a: { lat: number; lng: number }, b: { lat: number; lng: number }) => {
    const h = Math.sin(rad(b.lat - a.lat) / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lng - a.lng) / 2) ** 2;
    return 2 * R * Math.asin(Math.sqrt(h));
  };
  return world
    .filter((d) => d.availability === 'AVAILABLE' && d.fix && d.fix.recordedAt >= freshSince && (!query.vehicleType || d.ref.vehicleType === query.vehicleType))
    .map((d) => ({ id: d.ref.id, distanceM: distance(query.near, d.fix!) }))
    .filter((hit) => hit.distanceM <= query.radiusM)
    .sort((a, b) => a.distanceM - b.distanceM || (a.id < b.id ? -1 : 1))
    .slice(0, query.first);
}

interface WorldDriver {
  ref: DriverRef;
  availability: 'AVAILABLE' | 'OFFERED' | 'BUSY' | 'OFFLINE';
  fix: Fix | null;
}

/** 1,500 drivers around Cairo: most available and fresh, some busy, stale, without a fix, gone offline; clusters and exact ties. */
function buildWorld(now: number): WorldDriver[] {
  const rnd = seededRandom(42);
  const world: WorldDriver[] = [];
  const hotspots = [CAIRO, offset(CAIRO, 3000, -2000), offset(CAIRO, -4000, 4500)];
  for (let i = 0; i < 1500; i++) {
    const kind = rnd();
    const hotspot = hotspots[i % hotspots.length];
    const spread = kind < 0.3 ? 300 : 9000;
    let point = offset(hotspot, (rnd() - 0.5) * 2 * spread, (rnd() - 0.5) * 2 * spread);
    if (i % 50 === 7 && world.length > 0) point = { lat: world[world.length - 1].fix?.lat ?? point.lat, lng: world[world.length - 1].fix?.lng ?? point.lng }; // exact ties
    const ref: DriverRef = { id: randomUUID(), userId: randomUUID(), vehicleType: VEHICLE_TYPES[Math.floor(rnd() * VEHICLE_TYPES.length)] as VehicleType };
    const roll = rnd();
    const secondsAgo = roll < 0.05 ? 90 : Math.floor(rnd() * 50);
    const fix: Fix | null = roll > 0.95 ? null : { ...point, heading: null, speedKmh: null, accuracyM: 5, recordedAt: now - secondsAgo * 1000 };
    const availability = roll < 0.9 ? 'AVAILABLE' : roll < 0.92 ? 'OFFERED' : roll < 0.94 ? 'BUSY' : roll < 0.95 ? 'OFFLINE' : 'AVAILABLE';
    world.push({ ref, availability, fix });
  }
  return world;
}

async function seed(store: LiveStore, world: readonly WorldDriver[], now: number) {
  const one = async (driver: WorldDriver) => {
    await transitionDriver(store, driver.ref, 'AVAILABLE', now);
    if (driver.fix) {
      const outcome = await store.ingest(driver.ref, [driver.fix], { rateLimited: false, now });
      assert.deepEqual(outcome, { kind: 'JUDGED', spoofing: false, verdicts: ['LIVE'] });
    }
    if (driver.availability === 'OFFERED' || driver.availability === 'BUSY') await transitionDriver(store, driver.ref, 'OFFERED', now);
    if (driver.availability === 'BUSY') await transitionDriver(store, driver.ref, 'BUSY', now);
    if (driver.availability === 'OFFLINE') await transitionDriver(store, driver.ref, 'OFFLINE', now);
  };
  for (let i = 0; i < world.length; i += 100) await Promise.all(world.slice(i, i + 100).map(one));
}

/** Random circles over the area, plus circles whose radius lands just short of and just past a driver. */
function queries(world: readonly WorldDriver[], count: number): NearbyQuery[] {
  const rnd = seededRandom(7);
  const located = world.filter((d) => d.fix);
  const cases: NearbyQuery[] = Array.from({ length: count }, (_, i) => ({
    near: offset(CAIRO, (rnd() - 0.5) * 20_000, (rnd() - 0.5) * 20_000),
    radiusM: Math.round(Math.exp(Math.log(100) + rnd() * (Math.log(10_000) - Math.log(100)))),
    vehicleType: i % 3 === 0 ? null : (VEHICLE_TYPES[Math.floor(rnd() * VEHICLE_TYPES.length)] as VehicleType),
    first: 1 + Math.floor(rnd() * 50),
  }));
  for (let i = 0; i < count / 4; i++) {
    const from = located[Math.floor(rnd() * located.length)].fix!;
    const to = located[Math.floor(rnd() * located.length)].fix!;
    const d = Math.hypot((to.lat - from.lat) * 111_195, (to.lng - from.lng) * 96_000);
    for (const radiusM of [Math.max(1, Math.floor(d)), Math.max(1, Math.ceil(d))]) {
      if (radiusM <= 10_000) cases.push({ near: { lat: from.lat, lng: from.lng }, radiusM, vehicleType: null, first: 50 });
    }
  }
  return cases;
}

describe('nearby drivers', () => {
  let stack: LiveStack;

  before(async () => {
    stack = await startLiveStack({ sweepIntervalMs: 0 });
  });
  after(() => stack.stop());

  describe('both live indexes against a brute-force reference', () => {
    const now = Date.now();
    const freshSince = now - DEFAULT_RULES.freshnessMs;
    const world = buildWorld(now);
    const cases = queries(world, 300);

    async function assertMatchesReference(store: LiveStore) {
      await seed(store, world, now);
      let nonEmpty = 0;
      for (const query of cases) {
        const expected = bruteForce(world, query, freshSince);
        const actual = rankNearby(query, await store.nearby(query, freshSince));
        if (expected.length > 0) nonEmpty += 1;
        assert.deepEqual(
          actual.map((hit) => [hit.driverId, hit.distanceM.toFixed(6)]),
          expected.map((hit) => [hit.id, hit.distanceM.toFixed(6)]),
          `query ${JSON.stringify(query)}`,
        );
      }
      assert.ok(nonEmpty > cases.length * 0.6, `most queries find drivers (${nonEmpty} of ${cases.length})`);
    }

    it('finds with the Postgres H3 index exactly what brute force finds', async () => {
      const config = stack.config('drivers');
      const store =
        stack.live.store.kind === 'embedded'
          ? stack.live.store
          : new EmbeddedLiveStore({ db: stack.drivers.db, pubsub: new InProcessPubSub(), keys: driverKeys('h3-reference'), rules: DEFAULT_RULES, logger: createLogger(config) });
      await assertMatchesReference(store);
    });

    it('finds with Redis GEOSEARCH exactly what brute force finds', { skip: !REDIS && 'REDIS_URL is not set' }, async () => {
      // The configured Redis, whatever its kind: on a cluster the geo set and the drivers' buckets lie on several masters.
      const redis = testRedis('nearby-reference')!;
      const namespace = `nearby-reference-${randomUUID()}`;
      try {
        await assertMatchesReference(new RedisLiveStore(redis, driverKeys(namespace), DEFAULT_RULES));
      } finally {
        await deleteNamespace(namespace);
        redis.disconnect();
      }
    });
  });

  describe('the nearbyDrivers query', () => {
    const center = offset(CAIRO, 20_000, 20_000); // away from the random world above
    let partnerToken: string;

    before(async () => {
      const config = stack.config('accounts');
      const key = await loadSigningKey(config, createLogger(config));
      partnerToken = (await signAccessToken(key, { userId: randomUUID(), role: 'PARTNER' }, { issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 600 })).token;
    });

    it('answers nearest first with distance, position and last-seen time, leaving out the busy, the stale and the offline', async () => {
      const near = await stack.onlineDriver({ type: 'COMFORT' });
      const far = await stack.onlineDriver({ type: 'ECONOMY' });
      const offered = await stack.onlineDriver();
      const stale = await stack.onlineDriver();
      const gone = await stack.onlineDriver();
      const outside = await stack.onlineDriver();
      const send = (driver: { token: string }, point: { lat: number; lng: number }, secondsAgo: number) =>
        stack.query(`mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`, { b: [{ ...point, accuracyM: 5, recordedAt: isoAgo(Date.now(), secondsAgo) }] }, driver.token);
      const nearPoint = offset(center, 120, 0);
      const nearSent = isoAgo(Date.now(), 2);
      dataOf(await stack.query(`mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`, { b: [{ ...nearPoint, accuracyM: 5, recordedAt: nearSent }] }, near.token));
      dataOf(await send(far, offset(center, 0, 900), 1));
      dataOf(await send(offered, offset(center, 50, 0), 1));
      dataOf(await send(stale, offset(center, 60, 0), 90));
      dataOf(await send(gone, offset(center, 70, 0), 1));
      dataOf(await send(outside, offset(center, 2000, 0), 1));
      await transitionDriver(stack.live.store, (await stack.live.directory.byId(offered.driverId))!, 'OFFERED', Date.now());
      dataOf(await stack.query(`mutation { goOffline { id } }`, {}, gone.token));

      const rider = await stack.signUp('RIDER');
      const hits = dataOf<any>(await stack.query(NEARBY, { near: center, radiusM: 1000 }, rider.token)).nearbyDrivers;
      assert.deepEqual(
        hits.map((hit: any) => hit.driver.id),
        [near.driverId, far.driverId],
      );
      assert.deepEqual(hits[0], { distanceM: 120, lastSeenAt: nearSent, location: nearPoint, driver: { id: near.driverId, vehicle: { plate: near.plate, type: 'COMFORT' } } });
      assert.equal(hits[1].distanceM, 900);

      const comfort = dataOf<any>(await stack.query(NEARBY, { near: center, radiusM: 1000, vehicleType: 'ECONOMY' }, rider.token)).nearbyDrivers;
      assert.deepEqual(comfort.map((hit: any) => hit.driver.id), [far.driverId]);
      const first = dataOf<any>(await stack.query(NEARBY, { near: center, radiusM: 5000, first: 1 }, rider.token)).nearbyDrivers;
      assert.deepEqual(first.map((hit: any) => hit.driver.id), [near.driverId]);
      const wide = dataOf<any>(await stack.query(NEARBY, { near: center, radiusM: 5000, first: null }, rider.token)).nearbyDrivers;
      assert.deepEqual(wide.map((hit: any) => hit.driver.id), [near.driverId, far.driverId, outside.driverId]);
    });

    it('is for riders, admins and partners', async () => {
      const args = { near: center };
      for (const token of [(await stack.signUp('RIDER')).token, (await stack.admin()).token]) dataOf(await stack.query(NEARBY, args, token));
      // Drivers' own rule lets partners in; through the router a partner sends only its manifest's operations, by id.
      dataOf(await stack.queryDrivers(NEARBY, args, partnerToken));
      assertErrorCode(await stack.query(NEARBY, args, (await stack.signUp('DRIVER')).token), 'FORBIDDEN');
      assertErrorCode(await stack.query(NEARBY, args), 'UNAUTHENTICATED');
    });

    const invalid: Array<[string, Record<string, unknown>, string]> = [
      ['a page over 50', { first: 51 }, 'first'],
      ['a page under 1', { first: 0 }, 'first'],
      ['a radius over 10 km', { radiusM: 10_001 }, 'radiusM'],
      ['a radius under 1 m', { radiusM: 0 }, 'radiusM'],
      ['a latitude over 90', { near: { lat: 91, lng: 0 } }, 'near.lat'],
    ];
    for (const [what, args, field] of invalid) {
      it(`rejects ${what} with BAD_USER_INPUT`, async () => {
        const result = await stack.query(NEARBY, { near: center, ...args }, (await stack.signUp('RIDER')).token);
        assertErrorCode(result, 'BAD_USER_INPUT');
        assert.ok(result.body.errors![0].extensions!.fields[field], JSON.stringify(result.body.errors));
      });
    }
  });
});
