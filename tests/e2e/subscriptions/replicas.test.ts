import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../platform/config.ts';
import { createLogger } from '../../../platform/logger.ts';
import { startSubgraph, type RunningSubgraph } from '../../../platform/subgraph.ts';
import { startRouter, type RunningRouter } from '../../../router/router.ts';
import { SUBGRAPHS } from '../../../subgraphs/index.ts';
import { dataOf, graphql } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { TestSocket } from './socket.ts';
import { REDIS_CONFIGURED } from '../../support/redis-env.ts';

const FOLLOW = `subscription($id: ID!) { driverLocation(driverId: $id) { location { lat lng } driver { vehicle { plate } user { name } } } }`;

/**
 * Two routers and two drivers replicas on one Redis: router A talks only to drivers replica 1, router B
 * only to replica 2. A subscriber on A must receive positions written through B into replica 2.
 * Cross-replica fan-out is Redis's job, so this test always runs on the real Redis and Postgres.
 */
// Replicas share state only through the real servers (an embedded PGlite folder has one owner), so this
// file runs only when both are configured.
const needsRealServers = !process.env.DATABASE_URL || !REDIS_CONFIGURED ? 'needs the real Postgres and Redis (DATABASE_URL, and REDIS_URL or REDIS_CLUSTER_NODES): replicas share state only through them' : false;

describe('subscriptions across replicas', { skip: needsRealServers }, () => {
  let stack: Stack;
  let secondDrivers: RunningSubgraph;
  let routerB: RunningRouter;
  let driver: TestUser;
  let admin: TestUser;
  let driverId: string;

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'drivers'] });
    const driversConfig = loadConfig('drivers', stack.env);
    secondDrivers = await startSubgraph(SUBGRAPHS.drivers, driversConfig, { logger: createLogger(driversConfig) });
    const routerConfig = loadConfig('router', { ...stack.env, DRIVERS_URL: secondDrivers.url });
    routerB = await startRouter(routerConfig, { logger: createLogger(routerConfig) });

    driver = await stack.signUp('DRIVER', 'Replica Driver');
    admin = await stack.admin();
    const vehicle = { type: 'ECONOMY', make: 'Nissan', model: 'Sunny', color: 'Red', plate: 'REP 1001', year: 2021 };
    driverId = dataOf(await stack.query(`mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`, { v: vehicle }, { token: driver.accessToken })).registerDriver.id;
    dataOf(await stack.query(`mutation($id: ID!) { approveDriver(driverId: $id) { id } }`, { id: driverId }, { token: admin.accessToken }));
    dataOf(await graphql(routerB.url, `mutation { goOnline { id } }`, {}, { token: driver.accessToken }));
  });

  after(async () => {
    await routerB?.stop();
    await secondDrivers?.stop();
    await stack?.stop();
  });

  it('delivers to a subscriber on router A a position written through router B to the other drivers replica', async () => {
    const fix = (lat: number, secondsAgo: number) => ({ lat, lng: 31.2357, accuracyM: 5, recordedAt: new Date(Date.now() - secondsAgo * 1000).toISOString() });
    // The first fix goes in through B; the subscription on A opens with it, proving A's upstream is live.
    dataOf(await graphql(routerB.url, `mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`, { b: [fix(30.05, 1)] }, { token: driver.accessToken }));

    const socket = await TestSocket.connect(stack.routerUrl, admin.accessToken);
    socket.subscribe('d', FOLLOW, { id: driverId });
    const snapshot = await socket.next('d');
    assert.deepEqual(snapshot.payload.data.driverLocation.location, { lat: 30.05, lng: 31.2357 });

    const moved = await graphql(routerB.url, `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted } }`, { input: fix(30.0501, 0) }, { token: driver.accessToken });
    assert.equal(dataOf(moved).updateLocation.accepted, true);
    const next = await socket.next('d');
    assert.deepEqual(next.payload, { data: { driverLocation: { location: { lat: 30.0501, lng: 31.2357 }, driver: { vehicle: { plate: 'REP 1001' }, user: { name: 'Replica Driver' } } } } });
    await socket.close();
  });
});
