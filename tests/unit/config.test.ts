import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_PORTS, loadConfig } from '../../platform/config.ts';

describe('configuration', () => {
  it('uses documented defaults when the environment is empty', () => {
    const config = loadConfig('router', {});
    assert.equal(config.port, DEFAULT_PORTS.router);
    assert.equal(config.env, 'development');
    assert.equal(config.jwt.jwksUrl, 'http://localhost:4001/.well-known/jwks.json');
    assert.equal(config.shutdownTimeoutMs, 30_000);
  });

  it('gives every service its own default port', () => {
    assert.equal(loadConfig('wallet', {}).port, 4005);
    assert.equal(loadConfig('wallet', { PORT: '0' }).port, 0);
  });

  it('fails start-up on an invalid value, naming the variable', () => {
    assert.throws(() => loadConfig('drivers', { PORT: 'eighty' }), (error: Error) => error instanceof ConfigError && /PORT/.test(error.message));
    assert.throws(() => loadConfig('drivers', { DATABASE_URL: 'not a url' }), /DATABASE_URL/);
    assert.throws(() => loadConfig('drivers', { NODE_ENV: 'staging' }), /NODE_ENV/);
  });

  it('requires real secrets and a real database in production', () => {
    assert.throws(() => loadConfig('trips', { NODE_ENV: 'production' }), /DATABASE_URL/);
    assert.throws(() => loadConfig('accounts', { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x' }), /JWT_PRIVATE_KEY/);
    assert.throws(() => loadConfig('pricing', { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x' }), /QUOTE_SIGNING_SECRET/);
  });

  it('is frozen', () => {
    const config = loadConfig('router', {});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.jwt));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    });
  });

  it('reads subgraph URL overrides for the router', () => {
    const config = loadConfig('router', { DRIVERS_URL: 'http://drivers.internal:4002/graphql' });
    assert.deepEqual(config.subgraphUrls, { drivers: 'http://drivers.internal:4002/graphql' });
  });
});
