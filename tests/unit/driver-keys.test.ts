import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { ALL_BUCKETS, DRIVER_BUCKETS, driverBucket, driverKeys } from '../../subgraphs/drivers/live/keys.ts';

/** A Redis SCAN/KEYS glob as a regular expression (`*`, `?`, `[...]`, `\` escapes: what the patterns use). */
function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (char === '\\') source += `\\${glob[++i]}`;
    else if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      const end = glob.indexOf(']', i);
      source += glob.slice(i, end + 1);
      i = end;
    } else source += char.replace(/[.+^${}()|/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** The tag of a key: what Redis Cluster hashes to find its slot. */
const tagOf = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}'));

/** Every key of a namespace for these drivers and trips. */
function keysOf(namespace: string, driverIds: readonly string[], tripIds: readonly string[]): string[] {
  const keys = driverKeys(namespace);
  return [
    ...driverIds.flatMap((id) => [keys.driver(id), keys.presence(id), keys.rateLimit(id)]),
    ...ALL_BUCKETS.flatMap((bucket) => [keys.seen(bucket), keys.cooldowns(bucket), keys.rebuilt(bucket)]),
    ...['ECONOMY', 'COMFORT', 'XL'].map((type) => keys.geo(type)),
    ...tripIds.map((id) => keys.offers(id)),
    keys.supplyLock,
  ];
}

describe('the drivers\' live keys', () => {
  it('puts a driver in a bucket that never changes (pinned values)', () => {
    assert.deepEqual(
      ['00000000-0000-0000-0000-000000000000', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'driver-1', '', 'é'].map(driverBucket),
      [152, 36, 229, 11, 199],
      'a changed bucket function moves every driver: their live state is lost as if Redis had lost it',
    );
  });

  it('spreads drivers evenly over the buckets', () => {
    const counts = new Array<number>(DRIVER_BUCKETS).fill(0);
    const drivers = 100_000;
    for (let i = 0; i < drivers; i++) counts[driverBucket(randomUUID())]! += 1;
    const mean = drivers / DRIVER_BUCKETS;
    // A fair hash keeps every bucket within ±6 standard deviations (binomial: about ±20 here) of the mean.
    const deviation = 6 * Math.sqrt(mean);
    assert.ok(Math.min(...counts) > mean - deviation && Math.max(...counts) < mean + deviation, `buckets between ${Math.min(...counts)} and ${Math.max(...counts)}, mean ${mean}`);
  });

  it('keeps a driver\'s hash, presence, rate limit and its bucket\'s indexes in one slot, and tags the rest by entity', () => {
    const keys = driverKeys('smartline');
    const id = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const bucket = keys.bucketOf(id);
    assert.equal(keys.driver(id), 'smartline:drivers:{drv:smartline:24}:d:7c9e6679-7425-40de-944b-e07fc1f90ae7');
    const tags = new Set([keys.driver(id), keys.presence(id), keys.rateLimit(id), keys.seen(bucket), keys.cooldowns(bucket), keys.rebuilt(bucket), keys.locationChannel(id)].map(tagOf));
    assert.deepEqual([...tags], ['drv:smartline:24']);
    assert.equal(keys.geo('ECONOMY'), 'smartline:drivers:{geo:smartline:ECONOMY}:drivers');
    assert.notEqual(tagOf(keys.geo('ECONOMY')), tagOf(keys.geo('XL')), 'each vehicle type in its own slot');
    assert.equal(keys.offers('t-1'), 'smartline:drivers:{trip:smartline:t-1}:offers');
    assert.equal(tagOf(keys.tripEndedChannel('t-1')), 'trip:smartline:t-1');
    assert.equal(keys.supplyLock, 'smartline:drivers:{supply:smartline}:lock');
    assert.equal(new Set(ALL_BUCKETS.map((b) => tagOf(keys.seen(b)))).size, DRIVER_BUCKETS, 'one tag per bucket');
  });

  it('deletes by patterns that match every key of a namespace and none of another, even one that extends its name', () => {
    const drivers = Array.from({ length: 50 }, () => randomUUID());
    const trips = Array.from({ length: 20 }, () => randomUUID());
    const namespaces = ['a', 'a:b', 'a%3Ab', 'a:b:00', 'b', 'a*', 'a[x]', 'a:'];
    for (const namespace of namespaces) {
      const patterns = driverKeys(namespace).patterns.map(globToRegExp);
      const matches = (key: string) => patterns.some((pattern) => pattern.test(key));
      for (const key of keysOf(namespace, drivers, trips)) assert.ok(matches(key), `${namespace}: its own ${key}`);
      for (const other of namespaces.filter((candidate) => candidate !== namespace)) {
        for (const key of keysOf(other, drivers, trips)) assert.ok(!matches(key), `${namespace}'s patterns match ${other}'s ${key}`);
      }
    }
  });
});
