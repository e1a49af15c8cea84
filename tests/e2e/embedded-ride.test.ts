import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dataOf } from '../support/client.ts';
import { CAIRO, nextEvent, offset, RideFixtures, waitFor } from '../support/rides.ts';
import { startStack, type Stack } from '../support/stack.ts';

// Embedded mode whatever the outer environment says: each subgraph on its own PGlite (one connection
// each) and the process's in-process event log. startStack reads both variables when it starts.
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;

const COOLDOWN_MS = 200;
/** Far below the 30 s a request hung for when the drivers subgraph wedged its only connection. */
const PROMPT_MS = 5_000;

const FARE_ESTIMATES = `query($pickup: LatLngInput!, $dropoff: LatLngInput!) { fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: [COMFORT]) { id vehicleType fare { amount currency } } }`;
const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id status fare { amount currency } } }`;
const TRIP_OFFERS = `subscription { tripOffers { trip { id } } }`;
const STEPS = [
  ['acceptTripOffer', 'DRIVER_ASSIGNED'],
  ['markArrived', 'DRIVER_ARRIVED'],
  ['startTrip', 'IN_PROGRESS'],
  ['completeTrip', 'COMPLETED'],
] as const;
const DRIVER = `query($id: ID!) { driver(id: $id) { availability } }`;
const REGISTER = `mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`;
const APPROVE = `mutation($id: ID!) { approveDriver(driverId: $id) { id } }`;
const GO_ONLINE = `mutation { goOnline { id availability } }`;

/** The answer, or a failure naming `what` once `withinMs` have passed without one. */
async function promptly<T>(what: string, work: Promise<T>, withinMs = PROMPT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${withinMs} ms`)), withinMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a whole ride in embedded mode (PGlite per subgraph, in-process events)', () => {
  let stack: Stack | undefined;
  let rides: RideFixtures;

  before(async () => {
    stack = await startStack({
      env: { DISPATCH_OFFER_TIMEOUT_MS: '5000', DRIVER_COOLDOWN_MS: String(COOLDOWN_MS), SUPPLY_SNAPSHOT_INTERVAL_MS: '200', OUTBOX_POLL_MS: '100' },
    });
    rides = new RideFixtures(stack);
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
  });

  it('runs embedded: no Postgres server, no Redis', () => {
    assert.equal(stack!.database.databaseUrl, undefined);
    for (const running of Object.values(stack!.subgraphs)) {
      assert.equal(running!.db.kind, 'pglite', `${running!.name} is on PGlite`);
      assert.equal(running!.redis, undefined, `${running!.name} has no Redis`);
    }
  });

  it('completes a ride, then drivers keeps answering and the stack stops cleanly', async () => {
    const s = stack!;
    const pickup = offset(CAIRO, 0, 2_000);
    const dropoff = offset(pickup, 3_000);
    const driver = await rides.onlineDriverAt(offset(pickup, 400));
    const rider = await s.signUp('RIDER');
    const as = (token: string, query: string, variables: Record<string, unknown> = {}) => promptly(query.slice(0, 40), s.query(query, variables, { token }));

    const [quote] = dataOf<any>(await as(rider.accessToken, FARE_ESTIMATES, { pickup, dropoff })).fareEstimates;
    assert.equal(quote.vehicleType, 'COMFORT');
    const offers = rides.subscribe(driver, TRIP_OFFERS);
    const trip = dataOf<any>(await as(rider.accessToken, REQUEST, { input: { quoteId: quote.id, paymentMethod: 'CASH' }, key: `key-${randomUUID()}` })).requestTrip;
    assert.equal(trip.status, 'REQUESTED');
    assert.deepEqual(trip.fare, quote.fare);
    assert.equal((await nextEvent(offers, 10_000, 'the offer')).data!.tripOffers.trip.id, trip.id);
    await offers.return!();

    for (const [mutation, status] of STEPS) {
      const moved = dataOf<any>(await as(driver.accessToken, `mutation($id: ID!) { ${mutation}(tripId: $id) { id status } }`, { id: trip.id }))[mutation];
      assert.equal(moved.status, status, mutation);
    }

    // Drivers has applied TripCompleted (its trip record is closed, in the transaction the consumer
    // holds PGlite's only connection with), then the cooldown timer has made the driver AVAILABLE again.
    const drivers = s.subgraph('drivers').db;
    const outcome = async () => {
      const [row] = await promptly('reading drivers\' trip record', drivers.fork().getConnection().execute(`select "outcome" from "drivers"."driver_trips" where "trip_id" = ?`, [trip.id]));
      return row?.outcome ?? undefined;
    };
    assert.equal(await waitFor(outcome, { what: 'drivers to apply TripCompleted' }), 'COMPLETED');
    const availabilityOf = async () => dataOf<any>(await as(driver.accessToken, DRIVER, { id: driver.driverId })).driver.availability;
    await waitFor(async () => ((await availabilityOf()) === 'AVAILABLE' ? true : undefined), { what: 'the driver to be AVAILABLE after the cooldown' });

    const newcomer = await promptly('signUp', s.signUp('DRIVER'));
    const vehicle = { type: 'ECONOMY', make: 'Kia', model: 'Rio', color: 'Red', plate: `EMB ${process.pid % 10_000}`, year: 2021 };
    const { id: newcomerId } = dataOf<any>(await as(newcomer.accessToken, REGISTER, { v: vehicle })).registerDriver;
    dataOf(await as((await rides.admin()).accessToken, APPROVE, { id: newcomerId }));
    const online = dataOf<any>(await as(newcomer.accessToken, GO_ONLINE)).goOnline;
    assert.deepEqual(online, { id: newcomerId, availability: 'AVAILABLE' });

    await rides.dispose();
    await promptly('stopping the stack', s.stop(), 15_000);
    stack = undefined;
  });
});
