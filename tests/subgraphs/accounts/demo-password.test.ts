import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createAdmin } from '../../../bin/create-admin.ts';
import { loadConfig, type ServiceConfig } from '../../../platform/config.ts';
import { DEMO_PASSWORD } from '../../../platform/demo-city.ts';
import { createLogger } from '../../../platform/logger.ts';
import { startSubgraph, type RunningSubgraph } from '../../../platform/subgraph.ts';
import { User } from '../../../subgraphs/accounts/entities.ts';
import { PasswordHasher } from '../../../subgraphs/accounts/passwords.ts';
import { AccountsService } from '../../../subgraphs/accounts/service.ts';
import { loadSigningKey } from '../../../subgraphs/accounts/signing-key.ts';
import { SUBGRAPHS } from '../../../subgraphs/index.ts';
import { assertErrorCode, dataOf, graphql } from '../../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { productionSecrets } from '../../support/production.ts';
import { testEnvironment } from '../../support/stack.ts';

const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`;
const LOG_IN = `mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken user { id } } }`;

/**
 * The accounts subgraph on its own, on a fresh database, in production or development. Production
 * requires a DATABASE_URL: without a real Postgres the production configuration is read with a
 * placeholder URL and served from embedded PGlite (what is refused does not depend on the storage).
 * No REDIS_URL: accounts needs none, and nothing is left in a shared Redis.
 */
async function startAccounts(database: TestDatabase, mode: 'production' | 'development'): Promise<{ running: RunningSubgraph; config: ServiceConfig }> {
  const env = testEnvironment(database, mode === 'production' ? { NODE_ENV: 'production', ...productionSecrets() } : { NODE_ENV: 'development' });
  delete env.REDIS_URL;
  const loaded = loadConfig('accounts', mode === 'production' && !database.databaseUrl ? { ...env, DATABASE_URL: 'postgres://placeholder.invalid/unused' } : env);
  const config: ServiceConfig = Object.freeze({ ...loaded, databaseUrl: database.databaseUrl });
  assert.equal(config.production, mode === 'production');
  const running = await startSubgraph(SUBGRAPHS.accounts, config, { logger: createLogger(config) });
  return { running, config };
}

/** A user whose stored hash is the demo password's: a database seeded in development, now run elsewhere. */
async function insertDemoPasswordUser(running: RunningSubgraph, phone: string): Promise<string> {
  const em = running.db.fork();
  const id = randomUUID();
  em.create(User, { id, phone, name: 'Seeded In Development', role: 'ADMIN', passwordHash: await new PasswordHasher().hash(DEMO_PASSWORD) });
  await em.flush();
  return id;
}

describe('the demo password in production', () => {
  let database: TestDatabase;
  let accounts: RunningSubgraph;
  let config: ServiceConfig;
  const users = (phone: string) => accounts.db.fork().count(User, { phone });

  before(async () => {
    database = await createTestDatabase();
    ({ running: accounts, config } = await startAccounts(database, 'production'));
  });
  after(async () => {
    await accounts?.stop();
    await database?.dispose();
  });

  it('logs nobody in, even a user whose stored hash is the demo password: INVALID_CREDENTIALS like a wrong password', async () => {
    const phone = '+201077700001';
    await insertDemoPasswordUser(accounts, phone);
    const demo = await graphql(accounts.url, LOG_IN, { phone, password: DEMO_PASSWORD });
    const wrong = await graphql(accounts.url, LOG_IN, { phone, password: 'not-the-password' });
    const unknown = await graphql(accounts.url, LOG_IN, { phone: '+201077709999', password: DEMO_PASSWORD });
    for (const result of [demo, wrong, unknown]) assertErrorCode(result, 'INVALID_CREDENTIALS');
    assert.equal(demo.body.errors![0].message, wrong.body.errors![0].message);
    assert.equal(demo.status, wrong.status);

    // Log-in itself works in this production subgraph: a real password gets in.
    const signedUp = dataOf(await graphql(accounts.url, SIGN_UP, { input: { phone: '+201077700002', password: 'correct-horse-battery', name: 'Real', role: 'RIDER' } }));
    assert.equal(dataOf(await graphql(accounts.url, LOG_IN, { phone: '+201077700002', password: 'correct-horse-battery' })).logIn.user.id, signedUp.signUp.user.id);
  });

  it('costs the same argon2id work as a wrong password', async () => {
    class CountingHasher extends PasswordHasher {
      verifications = 0;
      override async verify(password: string, phc: string) {
        this.verifications += 1;
        return super.verify(password, phc);
      }
    }
    const hasher = new CountingHasher();
    const service = new AccountsService({ hasher, signingKey: await loadSigningKey(config, createLogger(config)), issuer: 'i', audience: 'a', accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 86_400 });
    const phone = '+201077700003';
    await insertDemoPasswordUser(accounts, phone);
    const em = accounts.db.fork();
    await assert.rejects(service.logIn(em, phone, 'not-the-password'), { extensions: { code: 'INVALID_CREDENTIALS' } });
    assert.equal(hasher.verifications, 1);
    await assert.rejects(service.logIn(em, phone, DEMO_PASSWORD), { extensions: { code: 'INVALID_CREDENTIALS' } });
    assert.equal(hasher.verifications, 2, 'a refused demo password still costs one argon2id verification');
  });

  it('refuses it at sign-up: BAD_USER_INPUT on the password field, nothing written', async () => {
    const phone = '+201077700004';
    const result = await graphql(accounts.url, SIGN_UP, { input: { phone, password: DEMO_PASSWORD, name: 'Copycat', role: 'RIDER' } });
    assertErrorCode(result, 'BAD_USER_INPUT');
    assert.match(result.body.errors![0].extensions!.fields.password, /demo password/);
    assert.equal(await users(phone), 0);
  });

  it('refuses it for an admin (create-admin), before opening any database', async () => {
    await assert.rejects(createAdmin(config, { phone: '+201077700005', name: 'Ops', password: DEMO_PASSWORD }), (error: any) => {
      assert.equal(error.extensions?.code, 'BAD_USER_INPUT');
      assert.match(error.extensions.fields.password, /demo password/);
      return true;
    });
    assert.equal(await users('+201077700005'), 0);
  });
});

describe('the demo password in development', () => {
  let database: TestDatabase;
  let accounts: RunningSubgraph;

  before(async () => {
    database = await createTestDatabase();
    ({ running: accounts } = await startAccounts(database, 'development'));
  });
  after(async () => {
    await accounts?.stop();
    await database?.dispose();
  });

  it('logs in a user whose stored hash is the demo password (the demo city)', async () => {
    const phone = '+201077700011';
    const id = await insertDemoPasswordUser(accounts, phone);
    assert.equal(dataOf(await graphql(accounts.url, LOG_IN, { phone, password: DEMO_PASSWORD })).logIn.user.id, id);
  });

  it('accepts it at sign-up', async () => {
    const result = await graphql(accounts.url, SIGN_UP, { input: { phone: '+201077700012', password: DEMO_PASSWORD, name: 'Demo-ish', role: 'RIDER' } });
    assert.ok(dataOf(result).signUp.accessToken);
  });
});
