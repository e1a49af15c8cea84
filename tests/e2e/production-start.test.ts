import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SUBGRAPH_NAMES } from '../../platform/config.ts';
import { buildDemoCity, DEMO_ADMIN, DEMO_PASSWORD } from '../../platform/demo-city.ts';
import { assertErrorCode, graphql } from '../support/client.ts';
import { runToExit, START_ENTRY, startEmbeddedProcess, type EmbeddedProcess } from '../support/commands.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { productionSecrets } from '../support/production.ts';

const LOG_IN = `mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }`;

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The subgraph schemas present in a database (each subgraph creates its own on start). */
const subgraphSchemas = (url: string) =>
  withClient(url, async (client) => (await client.query(`select schema_name from information_schema.schemata where schema_name = any($1)`, [[...SUBGRAPH_NAMES]])).rows.map((row) => row.schema_name));

/** Production `npm start` (bin/start.ts): never the demo city, and a refusal writes nothing. */
describe('npm start in production', () => {
  describe('refusals', () => {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase();
    });
    after(() => database?.dispose());

    const productionEnv = () => ({
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      DATA_DIR: database.dataDir,
      LOG_LEVEL: 'warn',
      ...productionSecrets(),
      ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    });

    it('refuses DEMO_DATA=true: exits non-zero with the reason, before any database is touched', async () => {
      const { code, stdout, stderr } = await runToExit(START_ENTRY, [], { ...productionEnv(), DEMO_DATA: 'true' });
      assert.equal(code, 1, stdout + stderr);
      assert.match(stderr, /DEMO_DATA=true is refused in production: the demo city's users, its admin included, share a published password/);
      assert.doesNotMatch(stdout, /SmartLine is up/);
      assert.deepEqual(readdirSync(database.dataDir), [], 'nothing under DATA_DIR');
      if (database.databaseUrl) assert.deepEqual(await subgraphSchemas(database.databaseUrl), [], 'no schema created in the database');
    });

    it('refuses to run without DATABASE_URL (no embedded PGlite in production), writing nothing under DATA_DIR', async () => {
      const { DATABASE_URL: _unused, ...env } = productionEnv();
      const { code, stdout, stderr } = await runToExit(START_ENTRY, [], env);
      assert.equal(code, 1, stdout + stderr);
      assert.match(stderr, /DATABASE_URL is required in production/);
      assert.deepEqual(readdirSync(database.dataDir), []);
    });
  });

  describe('with the required secrets on a fresh database', { skip: !process.env.DATABASE_URL && 'DATABASE_URL is not set: production needs a real Postgres' }, () => {
    let database: TestDatabase;
    let server: EmbeddedProcess;
    const city = buildDemoCity();

    before(async () => {
      database = await createTestDatabase();
      // No REDIS_URL: the in-process stand-ins, as `npm start` without Redis (nothing left in a shared Redis).
      server = await startEmbeddedProcess({
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        DATABASE_URL: database.databaseUrl!,
        DATA_DIR: database.dataDir,
        LOG_LEVEL: 'warn',
        ...productionSecrets(),
      });
    });
    after(async () => {
      await server?.stop();
      await database?.dispose();
    });

    it('starts without the demo city and says so', () => {
      assert.match(server.stdout(), /No demo data \(production never seeds it\)/);
      assert.ok(!server.stdout().includes(DEMO_PASSWORD), 'the banner shows no demo password');
    });

    it('logs in neither the demo admin nor a demo rider: INVALID_CREDENTIALS', async () => {
      for (const phone of [DEMO_ADMIN.phone, city.riders[0].phone, city.driverUsers[0].phone]) {
        assertErrorCode(await graphql(server.url, LOG_IN, { phone, password: DEMO_PASSWORD }), 'INVALID_CREDENTIALS');
      }
    });

    it('has no demo rows: no users at all, no drivers, no money moved, no trips', async () => {
      await withClient(database.databaseUrl!, async (client) => {
        for (const table of ['accounts.users', 'drivers.drivers', 'wallet.ledger_transfers', 'trips.trips']) {
          const { rows } = await client.query(`select count(*)::int as n from ${table}`);
          assert.equal(rows[0].n, 0, `${table} is empty`);
        }
      });
    });

    it('stops cleanly on SIGTERM', async () => {
      assert.equal(await server.stop(), 0);
    });
  });
});
