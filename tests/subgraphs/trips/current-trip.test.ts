import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataOf } from '../../support/client.ts';
import { offset, waitFor } from '../../support/rides.ts';
import type { Stack, TestUser } from '../../support/stack.ts';
import { ACCEPT, ARRIVE, COMPLETE, Rides, ridesStack, START } from './rides.ts';

const CURRENT_TRIP = `query($id: ID!) { driver(id: $id) { id currentTrip { id status } } }`;

describe("the driver's current trip (Driver.currentTrip, through the router)", () => {
  let stack: Stack;
  let rides: Rides;
  ridesStack((started) => ({ stack, rides } = started));

  const currentTrip = async (user: TestUser, driverId: string) => dataOf<any>(await rides.as(user, CURRENT_TRIP, { id: driverId })).driver.currentTrip;

  it('shows the active trip to the driver, its rider and admins, and null to anyone else', async () => {
    const { rider, driver, tripId } = await rides.assignedTrip();
    for (const user of [driver, rider, await rides.admin()]) assert.deepEqual(await currentTrip(user, driver.driverId), { id: tripId, status: 'DRIVER_ASSIGNED' });
    assert.equal(await currentTrip(await stack.signUp('RIDER'), driver.driverId), null, 'an unrelated rider');
    assert.equal(await currentTrip(await stack.signUp('DRIVER'), driver.driverId), null, 'another driver');
  });

  it('follows the trip through arrival and start, and is null before and after', async () => {
    const pickup = rides.freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    assert.equal(await currentTrip(driver, driver.driverId), null, 'no trip yet');
    const { id: tripId } = await rides.request(await stack.signUp('RIDER'), pickup);
    await rides.pendingOffers(tripId);
    assert.equal(await currentTrip(driver, driver.driverId), null, 'an offer is not a trip');
    dataOf(await rides.as(driver, ACCEPT, { id: tripId }));
    for (const [mutation, status] of [[ARRIVE, 'DRIVER_ARRIVED'], [START, 'IN_PROGRESS']] as const) {
      dataOf(await rides.as(driver, mutation, { id: tripId }));
      assert.deepEqual(await currentTrip(driver, driver.driverId), { id: tripId, status });
    }
    dataOf(await rides.as(driver, COMPLETE, { id: tripId }));
    assert.equal(await currentTrip(driver, driver.driverId), null, 'completed');
  });

  it('loads the current trips of a list of drivers with one statement, however long the list', async () => {
    // A list of drivers is one entity fetch from the router to trips (aliased root fields would be one each).
    const pickup = rides.freshArea();
    const drivers = await Promise.all([200, 400, 600].map((m) => rides.onlineDriverAt(offset(pickup, m))));
    const admin = await rides.admin();
    // Drivers writes location history in batches a moment later: let that land before counting.
    await waitFor(async () => {
      const [row] = await rides.sql<{ drivers: string }>(`select count(distinct "driver_id") as "drivers" from "drivers"."driver_location_history" where "driver_id" in (?, ?, ?)`, drivers.map((driver) => driver.driverId), 'drivers');
      return Number(row!.drivers) === drivers.length ? true : undefined;
    }, { what: 'the location history of the drivers' });
    const NEARBY = `query($near: LatLngInput!, $first: Int!) { nearbyDrivers(near: $near, radiusM: 1000, first: $first) { driver { id currentTrip { id } } } }`;
    const statementsFor = async (first: number) => {
      await rides.as(admin, NEARBY, { near: pickup, first }); // warm every cache that is not per request
      stack.resetStatementCount();
      const nearby = dataOf<any>(await rides.as(admin, NEARBY, { near: pickup, first })).nearbyDrivers;
      // Free drivers (the only ones nearbyDrivers lists) are on no trip.
      assert.deepEqual(nearby.map((entry: any) => entry.driver), drivers.slice(0, first).map((driver) => ({ id: driver.driverId, currentTrip: null })));
      return stack.statementCount();
    };
    const one = await statementsFor(1);
    assert.equal(await statementsFor(3), one, `one driver took ${one} statements`);
  });
});
