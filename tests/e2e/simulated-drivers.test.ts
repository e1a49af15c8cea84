import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DriverBot, type DriverTiming } from '../../clients/simulator/driver-bot.ts';
import { RouterClient } from '../../clients/simulator/router-client.ts';
import { StreetGrid } from '../../clients/simulator/streets.ts';
import { pino } from 'pino';
import { seededRandom } from '../../platform/demo-city.ts';
import { dataOf } from '../support/client.ts';
import { CAIRO, nextEvent, offset, RideFixtures, waitFor, type RideDriver } from '../support/rides.ts';
import { startStack, type Stack } from '../support/stack.ts';

const FARE_ESTIMATES = `query($pickup: LatLngInput!, $dropoff: LatLngInput!) { fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: [COMFORT]) { id } }`;
const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id } }`;
const TRIP_UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { status } }`;
const TRIP = `query($id: ID!) { trip(id: $id) { status driver { id } assignedAt arrivedAt startedAt completedAt } }`;
const LOG_IN = `mutation($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }`;
const GO_OFFLINE = `mutation { goOffline { id } }`;
const AVAILABILITY = `query($id: ID!) { driver(id: $id) { availability } }`;
const UPDATE_LOCATION = `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }`;

/** Quick bots: a short look at offers, a fast car (well under the 200 km/h drivers believes), every few ticks a look at the driver. */
const QUICK: Partial<DriverTiming> = {
  tickMs: 200,
  fixIntervalMs: 2_100,
  checkEveryMs: 1_000,
  acceptAfterMs: 600,
  boardingMs: 300,
  cruiseSpeedKmh: 10,
  tripSpeedKmh: 150,
  cruiseRadiusM: 150,
};

describe('simulated drivers (clients/simulator) against a stack', () => {
  let stack: Stack;
  let rides: RideFixtures;
  const bots: DriverBot[] = [];
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const streets = new StreetGrid(CAIRO);

  before(async () => {
    stack = await startStack({ env: { DRIVER_COOLDOWN_MS: '200', OUTBOX_POLL_MS: '100' } });
    rides = new RideFixtures(stack);
  });
  after(async () => {
    await Promise.all(bots.map((bot) => bot.stop()));
    await rides?.dispose();
    await stack?.stop();
  });

  /** A bot for `driver`, starting at `home`. */
  function botFor(driver: RideDriver, home: { lat: number; lng: number }, seed: number): DriverBot {
    const bot = new DriverBot({
      api: new RouterClient(stack.routerUrl),
      credentials: { phone: driver.phone, password: driver.password },
      driverId: driver.driverId,
      home,
      streets,
      random: seededRandom(seed),
      logger,
      timing: QUICK,
    });
    bots.push(bot);
    return bot;
  }

  const cruising = (bot: DriverBot) => waitFor(() => (bot.phase === 'cruising' ? true : undefined), { timeoutMs: 20_000, what: 'the bot to go online' });

  it('completes a ride a rider books near them: assigned, arrived, in progress, completed', async () => {
    const pickup = offset(CAIRO, 500, 500);
    const dropoff = offset(pickup, 300, 200);
    const [first, second] = await Promise.all([rides.approvedDriver(), rides.approvedDriver()]);
    const pair = [botFor(first, offset(pickup, 80, 0), 1), botFor(second, offset(pickup, 0, -120), 2)];
    await Promise.all(pair.map(cruising));
    // Dispatch needs their fixes in the live index: wait until drivers lists both near the pickup.
    const rider = await stack.signUp('RIDER');
    await waitFor(
      async () => {
        const { nearbyDrivers } = dataOf<any>(await stack.query(`query($near: LatLngInput!) { nearbyDrivers(near: $near, radiusM: 1000) { driver { id } } }`, { near: pickup }, { token: rider.accessToken }));
        return nearbyDrivers.length >= 2 ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'both bots in the live index' },
    );

    const [quote] = dataOf<any>(await stack.query(FARE_ESTIMATES, { pickup, dropoff }, { token: rider.accessToken })).fareEstimates;
    const { id: tripId } = dataOf<any>(await stack.query(REQUEST, { input: { quoteId: quote.id, paymentMethod: 'CASH' }, key: `key-${randomUUID()}` }, { token: rider.accessToken })).requestTrip;
    const updates = rides.subscribe<{ tripUpdates: { status: string } }>(rider, TRIP_UPDATES, { id: tripId });
    const seen: string[] = [];
    while (seen.at(-1) !== 'COMPLETED') {
      const { data } = await nextEvent(updates, 45_000, `the trip after ${seen.join(' → ') || 'booking'}`);
      if (seen.at(-1) !== data!.tripUpdates.status) seen.push(data!.tripUpdates.status);
    }
    assert.deepEqual(
      seen.filter((status) => ['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED'].includes(status)),
      ['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED'],
    );
    const { trip } = dataOf<any>(await stack.query(TRIP, { id: tripId }, { token: rider.accessToken }));
    assert.ok([first.driverId, second.driverId].includes(trip.driver.id));
    assert.ok(trip.assignedAt < trip.arrivedAt && trip.arrivedAt < trip.startedAt && trip.startedAt < trip.completedAt, JSON.stringify(trip));
    // The bot that lost the offer (or never got to accept) is cruising on, not backing off.
    await waitFor(() => (pair.every((bot) => bot.phase === 'cruising') ? true : undefined), { what: 'both bots cruising again' });
  });

  it('backs off when the driver goes offline from another device, and does not put it back online', async () => {
    const driver = await rides.approvedDriver();
    const bot = botFor(driver, offset(CAIRO, -3_000, 0), 3);
    await cruising(bot);
    const phone = dataOf<any>(await stack.query(LOG_IN, { phone: driver.phone, password: driver.password })).logIn.accessToken;
    dataOf(await stack.query(GO_OFFLINE, {}, { token: phone }));

    await waitFor(() => (bot.phase === 'backing-off' ? true : undefined), { timeoutMs: 10_000, what: 'the bot to back off' });
    assert.match(bot.backOffReason!, /offline|CONFLICT/);
    // Several more steps, past a position report and a state check: still offline, nobody argued.
    const ticks = bot.ticks;
    await waitFor(() => (bot.ticks >= ticks + 15 ? true : undefined), { what: 'more bot steps' });
    assert.equal(dataOf<any>(await stack.query(AVAILABILITY, { id: driver.driverId }, { token: phone })).driver.availability, 'OFFLINE');
    assert.equal(bot.phase, 'backing-off');
  });

  it('backs off when another device reports the driver’s position', async () => {
    const driver = await rides.approvedDriver();
    const home = offset(CAIRO, 3_000, 0);
    const bot = botFor(driver, home, 4);
    await cruising(bot);
    const token = dataOf<any>(await stack.query(LOG_IN, { phone: driver.phone, password: driver.password })).logIn.accessToken;
    // The other phone's fix may land inside the bot's 2-second rate window: it sends again until one is taken.
    await waitFor(async () => {
      const result = await stack.query(UPDATE_LOCATION, { input: { ...offset(home, 20, 20), accuracyM: 5, recordedAt: new Date().toISOString() } }, { token });
      return result.body.data?.updateLocation?.accepted ? true : undefined;
    }, { timeoutMs: 10_000, everyMs: 500, what: "the other device's fix" });

    await waitFor(() => (bot.phase === 'backing-off' ? true : undefined), { timeoutMs: 10_000, what: 'the bot to back off' });
    assert.match(bot.backOffReason!, /another device/);
    const ticks = bot.ticks;
    await waitFor(() => (bot.ticks >= ticks + 15 ? true : undefined), { what: 'more bot steps' });
    assert.equal(dataOf<any>(await stack.query(AVAILABILITY, { id: driver.driverId }, { token })).driver.availability, 'AVAILABLE', 'the other device keeps the driver online');
  });
});
