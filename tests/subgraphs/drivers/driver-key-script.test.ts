/**
 * On one Redis the nearby search is one Lua script that finds each driver's hash from the id alone
 * (redis-scripts.ts DRIVER_KEY): its bucket hash, done in 32-bit halves in Lua, must agree with
 * keys.ts `driverBucket` for every id, or the script would read the wrong hash and find nobody.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from '../../../platform/redis.ts';
import { driverKeys } from '../../../subgraphs/drivers/live/keys.ts';
import { DRIVER_KEY_OF } from '../../../subgraphs/drivers/live/redis-scripts.ts';
import { REDIS_CONFIGURED, testRedis } from '../../support/redis-env.ts';

describe("the live store's Lua driver key", { skip: !REDIS_CONFIGURED && 'needs Redis (REDIS_URL or REDIS_CLUSTER_NODES)' }, () => {
  let redis: Redis;

  before(() => {
    redis = testRedis('driver-key-script')!;
  });
  after(() => redis.quit());

  for (const namespace of ['smartline_test', 'a:b', '%{odd}:ns']) {
    it(`builds the same key as keys.ts for 2,000 ids and a few odd ones (namespace ${namespace})`, async () => {
      const keys = driverKeys(namespace);
      const { before, after, buckets, digits } = keys.driverKeyTemplate;
      const ids = [...Array.from({ length: 2_000 }, () => randomUUID()), 'x', 'driver-Ω-ü', '0'.repeat(200), randomUUID().toUpperCase()];
      const fromLua = await Promise.all(ids.map((id) => redis.eval(DRIVER_KEY_OF, 0, before, after, buckets, digits, id) as Promise<string>));
      const mismatches = ids.filter((id, i) => fromLua[i] !== keys.driver(id));
      assert.deepEqual(mismatches, [], `Lua and TypeScript disagree on ${mismatches.length} ids`);
      assert.ok(new Set(ids.map((id) => keys.bucketOf(id))).size > buckets / 2, 'the ids spread over the buckets');
    });
  }
});
