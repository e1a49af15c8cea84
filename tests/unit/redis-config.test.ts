import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../platform/config.ts';

describe('Redis configuration', () => {
  it('has no Redis when none is configured (embedded mode)', () => {
    assert.equal(loadConfig('drivers', {}).redis, undefined);
  });

  it('reads a single server from REDIS_URL', () => {
    assert.deepEqual(loadConfig('drivers', { REDIS_URL: 'redis://127.0.0.1:6379' }).redis, { kind: 'standalone', url: 'redis://127.0.0.1:6379' });
  });

  it('reads a cluster from REDIS_CLUSTER_NODES, IPv6 hosts in brackets', () => {
    const config = loadConfig('router', { REDIS_CLUSTER_NODES: 'redis-0:7000, 10.0.0.2:7001,[::1]:7002', REDIS_PASSWORD: 'secret' });
    assert.deepEqual(config.redis, {
      kind: 'cluster',
      nodes: [
        { host: 'redis-0', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      password: 'secret',
    });
    assert.equal(config.redisUrl, undefined);
  });

  it('reads sentinels and the master name', () => {
    const config = loadConfig('trips', { REDIS_SENTINELS: 's0:26379,s1:26379', REDIS_SENTINEL_NAME: 'smartline', REDIS_SENTINEL_PASSWORD: 'guard' });
    assert.deepEqual(config.redis, { kind: 'sentinel', sentinels: [{ host: 's0', port: 26379 }, { host: 's1', port: 26379 }], name: 'smartline', password: undefined, sentinelPassword: 'guard' });
  });

  it('refuses malformed node lists, naming the variable', () => {
    for (const nodes of ['redis-0', 'redis-0:0', 'redis-0:70000', ':7000', 'a:1,b', ',']) {
      assert.throws(() => loadConfig('drivers', { REDIS_CLUSTER_NODES: nodes }), (error: Error) => error instanceof ConfigError && /REDIS_CLUSTER_NODES/.test(error.message), nodes);
    }
    assert.throws(() => loadConfig('drivers', { REDIS_SENTINELS: 'sentinel', REDIS_SENTINEL_NAME: 'm' }), /REDIS_SENTINELS/);
  });

  it('refuses two kinds of Redis at once, and settings that belong to another kind', () => {
    assert.throws(() => loadConfig('drivers', { REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r:7000' }), /REDIS_URL, REDIS_CLUSTER_NODES: set one of them/);
    assert.throws(() => loadConfig('drivers', { REDIS_CLUSTER_NODES: 'r:7000', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm' }), /set one of them/);
    assert.throws(() => loadConfig('drivers', { REDIS_SENTINELS: 's:26379' }), /REDIS_SENTINEL_NAME: required/);
    assert.throws(() => loadConfig('drivers', { REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_NAME: 'm' }), /REDIS_SENTINEL_NAME: only with REDIS_SENTINELS/);
    assert.throws(() => loadConfig('drivers', { REDIS_CLUSTER_NODES: 'r:7000', REDIS_SENTINEL_PASSWORD: 'x' }), /REDIS_SENTINEL_PASSWORD: only with REDIS_SENTINELS/);
    assert.throws(() => loadConfig('drivers', { REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'x' }), /REDIS_PASSWORD: only with/);
  });
});
