/**
 * SmartLine on a Redis Cluster (REDIS_CLUSTER_NODES): three masters and three replicas of the test's own
 * on loopback (tests/support/redis-cluster.ts). A ride end to end through the router — dispatch, the
 * driver's live location to the rider, the status stream to its end — and a master's failover in the
 * middle of a ride that loses no status event. Needs real Postgres (the subgraphs' state must outlive a
 * Redis node) and the redis-server and redis-cli binaries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dataOf } from '../support/client.ts';
import { nextEvent, offset } from '../support/rides.ts';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/redis-cluster.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { ARRIVE, COMPLETE, Rides, START } from '../subgraphs/trips/rides.ts';
import { streamKey } from '../../platform/events/index.ts';
import { redisNamespace } from '../../platform/redis.ts';

const skip = ownClusterUnavailable() ?? (process.env.DATABASE_URL ? undefined : 'needs DATABASE_URL: embedded mode has no Redis');
if (skip) console.log(`# skipped: SmartLine on a Redis Cluster ${skip}`);

const TRIP_UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { status } }`;
const FOLLOW = `subscription($id: ID!) { driverLocation(driverId: $id) { location { lat lng } driver { vehicle { plate } } } }`;
const NEARBY = `query($near: LatLngInput!) { nearbyDrivers(near: $near, radiusM: 2000, first: 10) { driver { id } } }`;
const FARES = `query($p: LatLngInput!, $d: LatLngInput!) { fareEstimates(pickup: $p, dropoff: $d) { id vehicleType } }`;

/** Every status of a stream until it ends (it must end). */
async function statusesToEnd(updates: AsyncIterator<{ data?: any; errors?: any[] }>, what: string): Promise<string[]> {
  const seen: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: the stream did not end; saw ${seen.join(', ')}`)), 30_000);
  });
  try {
    for (;;) {
      const next = await Promise.race([updates.next(), deadline]);
      if (next.done) return seen;
      assert.equal(next.value.errors, undefined, JSON.stringify(next.value.errors));
      seen.push(next.value.data!.tripUpdates.status);
    }
  } finally {
    clearTimeout(timer);
  }
}


describe('SmartLine on a Redis Cluster', { skip }, () => {
  let cluster: OwnCluster;
  let stack: Stack;
  let rides: Rides;
  before(async () => {
    cluster = await startOwnCluster();
    // REDIS_URL emptied: the cluster replaces the shared Redis (the two are refused together).
    stack = await startStack({ env: { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodesEnv } });
    rides = new Rides(stack);
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
    await cluster?.stop();
  });

  it('runs a ride end to end: quotes, nearby drivers, dispatch, the driver on the rider\'s map, every status to the end', async () => {
    assert.equal(stack.config('drivers').redis?.kind, 'cluster');
    const pickup = rides.freshArea();
    const rider = await stack.signUp('RIDER');
    const quotes = dataOf<any>(await rides.as(rider, FARES, { p: pickup, d: offset(pickup, 3_000) })).fareEstimates;
    assert.ok(quotes.length > 0, 'pricing stores its quotes in the cluster');

    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    const near = dataOf<any>(await rides.as(rider, NEARBY, { near: pickup })).nearbyDrivers.map((found: any) => found.driver.id);
    assert.ok(near.includes(driver.driverId), 'the driver is in the geo index');

    const { id: tripId } = await rides.request(rider, pickup);
    await rides.pendingOffers(tripId);
    dataOf(await rides.as(driver, `mutation($id: ID!) { acceptTripOffer(tripId: $id) { id } }`, { id: tripId }));
    const updates = rides.subscribe(rider, TRIP_UPDATES, { id: tripId });
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'DRIVER_ASSIGNED');

    const follow = rides.subscribe(rider, FOLLOW, { id: driver.driverId });
    const first = await nextEvent(follow, 10_000, 'the driver\'s position');
    assert.equal(first.data?.driverLocation.driver.vehicle.plate, driver.plate);
    const moved = offset(pickup, 280); // 20 m from the first fix
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // one live fix per 2 s
    await rides.moveTo(driver, moved);
    const next = await nextEvent(follow, 10_000, 'the driver\'s next position');
    assert.ok(Math.abs(next.data!.driverLocation.location.lat - moved.lat) < 1e-6, 'the new fix reaches the rider through pub/sub');

    for (const step of [ARRIVE, START, COMPLETE]) dataOf(await rides.as(driver, step, { id: tripId }));
    assert.deepEqual(await statusesToEnd(updates, 'the ride'), ['DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
    await follow.return?.();
  });

  it('loses no status event when the master trips listens on fails over to its replica', async () => {
    const { rider, driver, tripId } = await rides.assignedTrip();
    const updates = rides.subscribe(rider, TRIP_UPDATES, { id: tripId });
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'DRIVER_ASSIGNED');
    dataOf(await rides.as(driver, ARRIVE, { id: tripId }));
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'DRIVER_ARRIVED');

    // Trips' pub/sub connection is on a master (platform/redis.ts openSubscriber prefers masters).
    const listening = await cluster.nodeOfClient('smartline-trips-subscriber');
    assert.ok(listening, 'trips subscribes on one node of the cluster');
    assert.equal(await cluster.isMaster(listening), true);
    await cluster.kill(listening);
    // Published while trips' subscriber has no node: lost by pub/sub, restored by the stream's resync.
    dataOf(await rides.as(driver, START, { id: tripId }));
    await cluster.promoteReplicaOf(listening);
    // The lost node comes back empty and rejoins as the new master's replica (the next test fails over again).
    await cluster.restart(listening);
    // Once the cluster is whole again, the rest of the ride goes on as usual.
    await rides.waitForStatus(tripId, 'IN_PROGRESS');
    assert.equal((await nextEvent(updates, 30_000, 'IN_PROGRESS after the failover')).data?.tripUpdates.status, 'IN_PROGRESS');
    dataOf(await rides.as(driver, COMPLETE, { id: tripId }));
    assert.deepEqual(await statusesToEnd(updates, 'after the failover'), ['COMPLETED']);

    // Dispatch, live locations and the event streams work on the promoted cluster: a whole new ride.
    const again = await rides.assignedTrip();
    for (const step of [ARRIVE, START, COMPLETE]) dataOf(await rides.as(again.driver, step, { id: again.tripId }));
    assert.equal(await rides.status(again.tripId), 'COMPLETED');
  });

  it('loses no event when the master of trips\' event stream fails over: the completion reaches drivers', async () => {
    const { rider, driver, tripId } = await rides.assignedTrip();
    const updates = rides.subscribe(rider, TRIP_UPDATES, { id: tripId });
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'DRIVER_ASSIGNED');
    for (const step of [ARRIVE, START]) dataOf(await rides.as(driver, step, { id: tripId }));
    await rides.waitForAvailability(driver, 'BUSY');

    const master = await cluster.masterOf(streamKey(redisNamespace(stack.config('trips')), 'trips'));
    await cluster.kill(master);
    // Committed in Postgres with its TripCompleted in the outbox; the relay cannot append it while the stream's master is gone.
    dataOf(await rides.as(driver, COMPLETE, { id: tripId }));
    await cluster.promoteReplicaOf(master);
    await cluster.restart(master);

    assert.deepEqual(await statusesToEnd(updates, 'the completed ride'), ['DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
    // Drivers consumed TripCompleted from the stream on the promoted master: the driver rests (DRIVER_COOLDOWN_MS).
    await rides.waitForAvailability(driver, 'COOLDOWN');
  });
});
