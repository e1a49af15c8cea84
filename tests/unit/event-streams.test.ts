import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENTS_MIGRATION, streamKey, streamMarkKey, withEventMigrations } from '../../platform/events/index.ts';
import { redisNamespace } from '../../platform/redis.ts';

describe('event stream names', () => {
  it('are namespaced by the database name, so replicas reaching it through different hosts agree', () => {
    const viaPooler = redisNamespace({ databaseUrl: 'postgres://app@pgbouncer:6432/smartline_prod', dataDir: '.data' });
    const direct = redisNamespace({ databaseUrl: 'postgres://app@10.0.0.5:5432/smartline_prod', dataDir: '/elsewhere' });
    assert.equal(viaPooler, 'smartline_prod');
    assert.equal(direct, viaPooler);
  });

  it('use a digest of the data directory for embedded PGlite, one per checkout', () => {
    assert.match(redisNamespace({ databaseUrl: undefined, dataDir: '.data' }), /^pglite-[0-9a-f]{16}$/);
    assert.notEqual(redisNamespace({ databaseUrl: undefined, dataDir: '/tmp/a' }), redisNamespace({ databaseUrl: undefined, dataDir: '/tmp/b' }));
  });

  it('put each producing subgraph on its own stream, hash-tagged by the stream (one cluster slot each, its mark beside it)', () => {
    assert.equal(streamKey('smartline_prod', 'trips'), 'smartline:events:{smartline_prod:trips}');
    assert.equal(streamMarkKey(streamKey('smartline_prod', 'trips')), 'smartline:events:{smartline_prod:trips}:intact');
  });

  it('come with the event tables, appended once after a subgraph\'s own migrations', () => {
    const own = [{ name: '0001_trips', class: EVENTS_MIGRATION.class }];
    const all = withEventMigrations(own);
    assert.deepEqual(all.map((entry) => entry.name), ['0001_trips', 'platform_0001_events']);
    assert.equal(withEventMigrations(all), all);
  });
});
