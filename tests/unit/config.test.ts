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
    assert.throws(() => loadConfig('router', { NODE_ENV: 'production' }), /router: SERVICE_TOKEN_SECRET is required in production/);
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

describe('demo data configuration', () => {
  const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x', JWT_PRIVATE_KEY: 'pem', SERVICE_TOKEN_SECRET: 's'.repeat(32), QUOTE_SIGNING_SECRET: 'q'.repeat(32) };

  /** The router in production: it needs only the service token secret (it mints service tokens for accounts). */
  const routerProduction = { NODE_ENV: 'production', SERVICE_TOKEN_SECRET: 's'.repeat(32) };

  it('seeds the demo city by default in development and never by default in production', () => {
    assert.equal(loadConfig('router', {}).demo.data, true);
    assert.equal(loadConfig('router', { NODE_ENV: 'development' }).demo.data, true);
    assert.equal(loadConfig('router', routerProduction).demo.data, false);
    for (const service of ['accounts', 'trips'] as const) assert.equal(loadConfig(service, production).demo.data, false);
    assert.equal(loadConfig('router', { DEMO_DATA: 'false' }).demo.data, false);
  });

  it('refuses DEMO_DATA=true in production, naming DEMO_DATA', () => {
    for (const [service, env] of [['router', routerProduction], ['accounts', production]] as const) {
      assert.throws(
        () => loadConfig(service, { ...env, DEMO_DATA: 'true' }),
        (error: Error) => error instanceof ConfigError && /DEMO_DATA=true is refused in production/.test(error.message),
      );
    }
    assert.equal(loadConfig('router', { ...routerProduction, DEMO_DATA: 'false' }).demo.data, false);
  });

  it('turns the simulation off with DEMO_SIMULATION=false, and with the demo data', () => {
    assert.equal(loadConfig('router', {}).demo.simulation, true);
    assert.equal(loadConfig('router', { DEMO_SIMULATION: 'false' }).demo.simulation, false);
    assert.equal(loadConfig('router', { DEMO_DATA: 'false' }).demo.simulation, false);
    assert.equal(loadConfig('router', routerProduction).demo.simulation, false);
  });
});

describe('wallet configuration', () => {
  it("limits a driver's commission debt to 200.00 EGP by default, and reads another limit exactly", () => {
    assert.equal(loadConfig('wallet', {}).wallet.driverDebtLimitMinor, 20_000n);
    assert.equal(loadConfig('wallet', { WALLET_DRIVER_DEBT_LIMIT_MINOR: '999999999999' }).wallet.driverDebtLimitMinor, 999_999_999_999n);
    assert.equal(loadConfig('wallet', { WALLET_DRIVER_DEBT_LIMIT_MINOR: '0' }).wallet.driverDebtLimitMinor, 0n);
  });

  it('refuses a debt limit that is not a whole number of minor units, naming the variable', () => {
    for (const value of ['-1', '12.50', 'lots', '1e6', '1234567890123']) {
      assert.throws(() => loadConfig('wallet', { WALLET_DRIVER_DEBT_LIMIT_MINOR: value }), /WALLET_DRIVER_DEBT_LIMIT_MINOR/, value);
    }
  });

  it('uses the sandbox payment gateway outside production and none in production, where the sandbox is refused', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x', SERVICE_TOKEN_SECRET: 's'.repeat(32) };
    assert.equal(loadConfig('wallet', {}).wallet.paymentProvider, 'sandbox');
    assert.equal(loadConfig('wallet', { PAYMENT_PROVIDER: 'none' }).wallet.paymentProvider, 'none');
    assert.equal(loadConfig('wallet', production).wallet.paymentProvider, 'none');
    assert.throws(() => loadConfig('wallet', { ...production, PAYMENT_PROVIDER: 'sandbox' }), /PAYMENT_PROVIDER=sandbox is refused in production/);
    assert.throws(() => loadConfig('wallet', { PAYMENT_PROVIDER: 'stripe' }), /PAYMENT_PROVIDER/);
  });

  it('reads the fraud rules, refusing nonsense', () => {
    assert.deepEqual(loadConfig('wallet', {}).wallet.fraud, { velocityPerHour: 20, depositThenWithdrawPercent: 90, failedDepositsPerDay: 5, blockWithdrawals: true });
    assert.equal(loadConfig('wallet', { FRAUD_BLOCK_WITHDRAWALS: 'false' }).wallet.fraud.blockWithdrawals, false);
    assert.throws(() => loadConfig('wallet', { FRAUD_DEPOSIT_WITHDRAW_PERCENT: '150' }), /FRAUD_DEPOSIT_WITHDRAW_PERCENT/);
  });
});
