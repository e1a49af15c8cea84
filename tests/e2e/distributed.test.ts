import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createAdmin } from '../../bin/create-admin.ts';
import { loadConfig } from '../../platform/config.ts';
import { assertErrorCode, dataOf, graphql } from '../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { seedEverySubgraph } from '../support/pglite-templates.ts';
import { startServiceProcess, startSubgraphProcesses, type ServiceProcess } from '../support/processes.ts';

/** The six services as six processes, configured only by the environment, on the real Postgres and Redis. */
describe('distributed mode', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];
  let routerUrl: string;
  const query = (text: string, variables?: Record<string, unknown>, token?: string) => graphql(routerUrl, text, variables, { token });

  before(async () => {
    database = await createTestDatabase();
    if (!database.databaseUrl) await seedEverySubgraph(database.dataDir);
    env = {
      PATH: process.env.PATH ?? '',
      ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      DATA_DIR: database.dataDir,
      DATABASE_POOL_MAX: '4',
      QUOTE_SIGNING_SECRET: randomBytes(32).toString('base64url'),
    };
    // The operator command runs before accounts starts: an embedded (PGlite) database has one owner at a time.
    await createAdmin(loadConfig('accounts', env), { phone: '+201055500003', name: 'Ops', password: 'admin-password-123' });
    const accounts = await startServiceProcess('accounts', env);
    services.push(accounts);
    env.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
    const subgraphs = await startSubgraphProcesses(['drivers', 'trips', 'pricing', 'wallet'], env);
    services.push(...subgraphs);
    const urls = Object.fromEntries(services.map((service) => [`${service.name.toUpperCase()}_URL`, service.url]));
    const router = await startServiceProcess('router', { ...env, ...urls });
    services.push(router);
    routerUrl = router.url;
  });

  after(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await database?.dispose();
  });

  it('runs the whole first ride flow through the router', async () => {
    const signUp = (phone: string, role: string) =>
      query(`mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`, { input: { phone, password: 'correct-horse-battery', name: `${role} One`, role } });
    const rider = dataOf(await signUp('+201055500001', 'RIDER')).signUp;
    const driver = dataOf(await signUp('+201055500002', 'DRIVER')).signUp;
    assert.equal(dataOf(await query(`{ me { id } }`, {}, rider.accessToken)).me.id, rider.user.id);

    const registered = dataOf(
      await query(`mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id approvalStatus } }`, { v: { type: 'COMFORT', make: 'Toyota', model: 'Corolla', color: 'White', plate: 'CAI 777', year: 2022 } }, driver.accessToken),
    ).registerDriver;
    assert.equal(registered.approvalStatus, 'PENDING');

    const admin = dataOf(await query(`mutation { logIn(phone: "+201055500003", password: "admin-password-123") { accessToken } }`)).logIn;
    assertErrorCode(await query(`mutation($id: ID!) { approveDriver(driverId: $id) { id } }`, { id: registered.id }, rider.accessToken), 'FORBIDDEN');
    assert.equal(dataOf(await query(`mutation($id: ID!) { approveDriver(driverId: $id) { approvalStatus } }`, { id: registered.id }, admin.accessToken)).approveDriver.approvalStatus, 'APPROVED');

    const quotes = dataOf(
      await query(`{ fareEstimates(pickup: { lat: 30.0444, lng: 31.2357 }, dropoff: { lat: 30.0626, lng: 31.2497 }) { id vehicleType fare { amount currency } } }`, {}, rider.accessToken),
    ).fareEstimates;
    assert.equal(quotes.length, 4);
    const comfort = quotes.find((quote: { vehicleType: string }) => quote.vehicleType === 'COMFORT');
    const trip = dataOf(
      await query(`mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id status fare { amount } } }`, { input: { quoteId: comfort.id, paymentMethod: 'CASH' }, key: 'first-ride-0001' }, rider.accessToken),
    ).requestTrip;
    assert.equal(trip.status, 'REQUESTED');
    assert.equal(trip.fare.amount, comfort.fare.amount);

    const mine = dataOf(await query(`{ myTrips(first: 5) { edges { node { id quote { vehicleType } rider { name } payment { status } } } } me { wallet { balance { amount currency } } } }`, {}, rider.accessToken));
    assert.deepEqual(mine.myTrips.edges.map((edge: { node: { id: string } }) => edge.node.id), [trip.id]);
    assert.equal(mine.myTrips.edges[0].node.quote.vehicleType, 'COMFORT');
    assert.equal(mine.myTrips.edges[0].node.rider.name, 'RIDER One');
    assert.deepEqual(mine.me.wallet.balance, { amount: '0.00', currency: 'EGP' });
  });

  it('reports every service ready, with its database and Redis', async () => {
    for (const service of services) {
      const response = await fetch(service.url.replace('/graphql', '/health/ready'));
      assert.equal(response.status, 200, `${service.name} is ready`);
      const body = (await response.json()) as { checks: Record<string, string> };
      if (service.name !== 'router') {
        assert.equal(body.checks.database, 'ok');
        if (process.env.REDIS_URL) assert.equal(body.checks.redis, 'ok');
      }
    }
  });

  it('exits cleanly on SIGTERM', async () => {
    const codes = await Promise.all(services.map((service) => service.stop()));
    assert.deepEqual(codes, services.map(() => 0));
  });
});
