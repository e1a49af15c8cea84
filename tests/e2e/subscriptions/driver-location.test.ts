import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dataOf } from '../../support/client.ts';
import { waitFor } from '../../support/rides.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { ridesStack, type Rides } from '../../subgraphs/trips/rides.ts';
import { TestSocket } from './socket.ts';

const FOLLOW = `subscription($id: ID!) { driverLocation(driverId: $id) { location { lat lng } driver { vehicle { plate } user { name } } } }`;

describe('following a driver through the router', () => {
  let stack: Stack;
  let driver: TestUser;
  let admin: TestUser;
  let driverId: string;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'drivers'] });
    driver = await stack.signUp('DRIVER', 'Dina Driver');
    admin = await stack.admin();
    const vehicle = { type: 'COMFORT', make: 'Toyota', model: 'Corolla', color: 'White', plate: 'CAI 4242', year: 2022 };
    driverId = dataOf(await stack.query(`mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`, { v: vehicle }, { token: driver.accessToken })).registerDriver.id;
    dataOf(await stack.query(`mutation($id: ID!) { approveDriver(driverId: $id) { id } }`, { id: driverId }, { token: admin.accessToken }));
    dataOf(await stack.query(`mutation { goOnline { id } }`, {}, { token: driver.accessToken }));
  });
  after(() => stack.stop());

  it('delivers each location with the driver’s vehicle (drivers) and name (accounts)', async () => {
    const fix = (lat: number, secondsAgo: number) => ({ lat, lng: 31.2357, accuracyM: 5, recordedAt: new Date(Date.now() - secondsAgo * 1000).toISOString() });
    // A first fix, so the subscription opens with it: its arrival proves the upstream subscription is live.
    dataOf(await stack.query(`mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted } }`, { b: [fix(30.0444, 1)] }, { token: driver.accessToken }));

    const socket = await TestSocket.connect(stack.routerUrl, admin.accessToken);
    socket.subscribe('d', FOLLOW, { id: driverId });
    const first = await socket.next('d');
    assert.deepEqual(first.payload, { data: { driverLocation: { location: { lat: 30.0444, lng: 31.2357 }, driver: { vehicle: { plate: 'CAI 4242' }, user: { name: 'Dina Driver' } } } } });

    // 11 m in a second: a plausible move.
    const moved = await stack.query(`mutation($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }`, { input: fix(30.0445, 0) }, { token: driver.accessToken });
    assert.deepEqual(dataOf(moved).updateLocation, { accepted: true, rejectedReason: null });
    const next = await socket.next('d');
    assert.deepEqual(next.payload, { data: { driverLocation: { location: { lat: 30.0445, lng: 31.2357 }, driver: { vehicle: { plate: 'CAI 4242' }, user: { name: 'Dina Driver' } } } } });
    await socket.close();
  });

  it('refuses a rider who is not on a trip with the driver with FORBIDDEN', async () => {
    const rider = await stack.signUp('RIDER');
    const socket = await TestSocket.connect(stack.routerUrl, rider.accessToken);
    socket.subscribe('d', FOLLOW, { id: driverId });
    const message = await socket.next('d');
    assert.equal(message.type, 'error');
    assert.deepEqual(message.payload.map((error: { extensions: { code: string } }) => error.extensions.code), ['FORBIDDEN']);
    await socket.close();
  });
});

describe('a rider following their driver from the moment the trip says DRIVER_ASSIGNED', () => {
  let stack: Stack;
  let rides: Rides;
  ridesStack((started) => ({ stack, rides } = started));

  it('is let through before drivers has heard of the match: drivers asks trips, and remembers', async () => {
    const { rider, driver, tripId } = await rides.assignedTrip();
    // TripMatched reaches drivers a little after the assignment; take its record away again to be
    // exactly where the rider's app is when it subscribes at once.
    const record = () => rides.sql<{ trip_id: string }>(`select "trip_id" from "drivers"."driver_trips" where "trip_id" = ?`, [tripId], 'drivers');
    await waitFor(async () => ((await record()).length > 0 ? true : undefined), { what: 'TripMatched in drivers' });
    await rides.sql(`delete from "drivers"."driver_trips" where "trip_id" = ?`, [tripId], 'drivers');

    const socket = await TestSocket.connect(stack.routerUrl, rider.accessToken);
    socket.subscribe('d', `subscription($id: ID!) { driverLocation(driverId: $id) { driver { id } } }`, { id: driver.driverId });
    const first = await socket.next('d');
    assert.deepEqual(first, { id: 'd', type: 'next', payload: { data: { driverLocation: { driver: { id: driver.driverId } } } } });
    assert.equal((await record()).length, 1, 'what trips confirmed is recorded');
    await socket.close();

    // Another rider is still refused: trips knows no trip of theirs with this driver.
    const stranger = await stack.signUp('RIDER');
    const refused = await TestSocket.connect(stack.routerUrl, stranger.accessToken);
    refused.subscribe('d', `subscription($id: ID!) { driverLocation(driverId: $id) { driver { id } } }`, { id: driver.driverId });
    const error = await refused.next('d');
    assert.equal(error.type, 'error');
    assert.deepEqual(error.payload.map((e: { extensions: { code: string } }) => e.extensions.code), ['FORBIDDEN']);
    await refused.close();
  });
});
