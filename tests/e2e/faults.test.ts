/**
 * The fault suite: a ride-hailing day on a Redis of the test's own, restarted (empty) in the middle of
 * it — bookings, offers and accepts, arrivals, starts, completions and a cancellation, drivers reporting
 * positions and riders following their trips — then everything users see is checked against Postgres:
 * every booked trip readable with its quote, every status stream ended on the database's final state,
 * no driver on two trips, every event trips recorded applied by drivers, and the router's readiness
 * 503 while Redis is gone and 200 again after, with no service restarted. Real Postgres and the
 * redis-server binary are needed (embedded mode has no Redis to lose).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { dataOf, errorCodes, graphql } from '../support/client.ts';
import { nextEvent, offset, waitFor, type RideDriver } from '../support/rides.ts';
import { ownRedisUnavailable, startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';
import { ACCEPT, ARRIVE, CANCEL, COMPLETE, Rides, START } from '../subgraphs/trips/rides.ts';

const skip = ownRedisUnavailable() ?? (process.env.DATABASE_URL ? undefined : 'needs DATABASE_URL: embedded mode has no Redis to lose');
if (skip) console.log(`# skipped: the fault suite ${skip}`);

const ESTIMATES = `query($p: LatLngInput!, $d: LatLngInput!) { fareEstimates(pickup: $p, dropoff: $d, vehicleTypes: [COMFORT]) { id } }`;
const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { id } }`;
const TRIP_UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { status } }`;
const TRIP = `query($id: ID!) { trip(id: $id) { status quote { fare { amount currency } } } }`;
const MY_TRIPS = `query { myTrips(first: 50) { edges { node { id status quote { id } } } } }`;
const UPDATE_LOCATION = `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted } }`;

interface Ride {
  rider: TestUser;
  tripId: string;
  driver?: RideDriver;
  /** Every status the rider's stream delivered, and whether it ended. */
  statuses: string[];
  ended: Promise<void>;
}

/** The services' warnings and errors, kept in memory (the newest 200) for a failure to show. */
function keptLogs() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk).trimEnd());
      if (lines.length > 200) lines.shift();
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

describe('faults: Redis restarted empty in the middle of a busy hour', { skip }, () => {
  const logs = keptLogs();
  let own: OwnRedis;
  let stack: Stack;
  let rides: Rides;
  before(async () => {
    own = await startOwnRedis();
    stack = await startStack({ subgraphs: ['drivers', 'trips', 'pricing', 'wallet'], env: { REDIS_URL: own.url, DRIVER_COOLDOWN_MS: '0', PERSISTED_OPERATIONS: 'off' }, logger: logs.logger });
    rides = new Rides(stack);
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
    await own?.stop();
  });

  it('loses no booked trip, quote, status change or event, and no driver drives two trips', async () => {
    const area = rides.freshArea();
    const drivers = await Promise.all([0, 1, 2, 3, 4].map((i) => rides.onlineDriverAt(offset(area, 300 + i * 100))));
    const byUserId = new Map(drivers.map((driver) => [driver.id, driver]));

    // Drivers' apps report every 250 ms for the whole test; while Redis is gone their fixes fail, as they would.
    let reporting = true;
    const reports = drivers.map(async (driver, i) => {
      while (reporting) {
        const at = offset(area, 300 + i * 100, (Date.now() % 1000) / 10);
        await rides.as(driver, UPDATE_LOCATION, { input: { ...at, accuracyM: 5, recordedAt: new Date().toISOString() } }).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });

    /** A rider books through pricing's quote and follows the trip; the offered driver accepts. */
    const book = async (): Promise<Ride> => {
      const rider = await stack.signUp('RIDER');
      const [quote] = dataOf<any>(await rides.as(rider, ESTIMATES, { p: area, d: offset(area, 3_000) })).fareEstimates;
      const { id: tripId } = dataOf<any>(await rides.as(rider, REQUEST, { input: { quoteId: quote.id, paymentMethod: 'CASH' }, key: randomUUID() })).requestTrip;
      const events = rides.subscribe(rider, TRIP_UPDATES, { id: tripId });
      const ride: Ride = { rider, tripId, statuses: [], ended: Promise.resolve() };
      ride.ended = (async () => {
        for await (const event of events) ride.statuses.push(event.data!.tripUpdates.status);
      })();
      return ride;
    };
    /** What a trip that got no offer was waiting for: its dispatch state, its offers, every driver's availability. */
    const whyNoOffer = async (ride: Ride) => {
      const [trip] = await rides.sql(`select "status", "dispatch_round", "next_dispatch_at", "round_ends_at", "cancellation_reason" from "trips"."trips" where "id" = ?`, [ride.tripId]);
      const availability = await Promise.all(drivers.map(async (driver) => `${driver.driverId.slice(0, 8)} ${await rides.availability(driver).catch((error) => String(error))}`));
      return `trip ${JSON.stringify(trip)}; offers ${JSON.stringify(await rides.offers(ride.tripId))}; drivers ${availability.join(', ')}; the services' last warnings:\n${logs.lines.slice(-60).join('\n')}`;
    };
    // After the loss, drivers come back through trips' events (relay → stream → drivers' consumer) and
    // the live state's rebuild: seconds on a quiet machine, more beside a full test run on two CPUs.
    // An offer whose accept answered CONFLICT (its driver took another trip meanwhile) is not tried again.
    const assign = async (ride: Ride) => {
      const conflicted = new Set<string>();
      for (;;) {
        const [offer] = await waitFor(
          async () => {
            const open = (await rides.offers(ride.tripId)).filter((offer) => offer.status === 'PENDING' && !conflicted.has(offer.driver_id));
            return open.length > 0 ? open : undefined;
          },
          { timeoutMs: 30_000, what: `a pending offer of ${ride.tripId}` },
        ).catch(async (error: Error) => {
          throw new Error(`${error.message}: ${await whyNoOffer(ride)}`);
        });
        const driver = byUserId.get(offer!.driver_user_id)!;
        const accepted = await rides.as(driver, ACCEPT, { id: ride.tripId });
        if (errorCodes(accepted).length === 0) return void (ride.driver = driver);
        assert.deepEqual(errorCodes(accepted), ['CONFLICT'], 'an offer taken or ended meanwhile, nothing else');
        conflicted.add(offer!.driver_id);
      }
    };
    const step = async (ride: Ride, mutation: string) => {
      const started = Date.now();
      const result = await rides.as(ride.driver!, mutation, { id: ride.tripId });
      assert.equal(result.body.errors, undefined, `${mutation.split('(')[0]} after ${Date.now() - started} ms: ${JSON.stringify(result.body.errors)}`);
    };

    let first: Ride[] = [];
    let later: Ride[] = [];
    try {
    // Before the loss: four trips booked and assigned, one already under way.
    first = await Promise.all([book(), book(), book(), book()]);
    // Drivers answer the offers they get as they come, as people do: an offer left unanswered expires
    // after DISPATCH_OFFER_TIMEOUT_MS and its driver is not offered that trip again, and with five
    // drivers a trip whose offers all expired would find nobody (CI, slow, once lost a trip that way).
    await Promise.all(first.map(assign));
    await step(first[0]!, ARRIVE);

    const readiness = async () => (await fetch(new URL('/health/ready', stack.routerUrl))).status;
    assert.equal(await readiness(), 200);
    await own.kill();
    // While Redis is gone: Postgres carries the rides on.
    for (const mutation of [START, COMPLETE]) await step(first[0]!, mutation);
    for (const mutation of [ARRIVE, START, COMPLETE]) await step(first[1]!, mutation);
    dataOf(await rides.as(first[2]!.rider, CANCEL, { id: first[2]!.tripId, reason: 'changed my mind' }));
    await step(first[3]!, ARRIVE);
    // Every subgraph needs its Redis: none is ready, so neither is the router (nothing restarted).
    await waitFor(async () => ((await readiness()) === 503 ? true : undefined), { timeoutMs: 15_000, what: 'the router to report unready' });
    await own.start();
    await waitFor(async () => ((await readiness()) === 200 ? true : undefined), { timeoutMs: 15_000, what: 'the router to report ready again' });

    // After: the last one finishes, and two new trips go from booking to drop-off.
    for (const mutation of [START, COMPLETE]) await step(first[3]!, mutation);
    later = await Promise.all([book(), book()]);
    await Promise.all(later.map(assign));
    for (const ride of later) for (const mutation of [ARRIVE, START, COMPLETE]) await step(ride, mutation);
    } finally {
      reporting = false;
      await Promise.all(reports);
    }
    const all = [...first, ...later];

    // Every status stream ends, on the status Postgres holds.
    await Promise.all(all.map((ride) => ride.ended));
    for (const ride of all) {
      const final = await rides.status(ride.tripId);
      assert.equal(ride.statuses.at(-1), final, `trip ${ride.tripId}: the stream ended on ${ride.statuses.at(-1)} (${ride.statuses.join(' → ')}), the database says ${final}`);
    }
    assert.deepEqual(all.map((ride) => ride.statuses.at(-1)), ['COMPLETED', 'COMPLETED', 'CANCELLED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);

    // Every booked trip is readable with its quote, and every rider's history is whole.
    for (const ride of all) {
      const trip = dataOf<any>(await rides.as(ride.rider, TRIP, { id: ride.tripId })).trip;
      assert.ok(trip.quote?.fare.amount, `trip ${ride.tripId} has its quote`);
      const history = dataOf<any>(await rides.as(ride.rider, MY_TRIPS, {})).myTrips.edges;
      assert.deepEqual(history.map((edge: any) => [edge.node.id, edge.node.quote !== null]), [[ride.tripId, true]]);
    }

    // No driver was ever on two trips at once.
    const spans = await rides.sql<{ driver_id: string; assigned_at: Date; ended_at: Date }>(
      `select "driver_id", "assigned_at", coalesce("completed_at", "cancelled_at") as "ended_at" from "trips"."trips" where "id" = any(?) order by "driver_id", "assigned_at"`,
      [`{${all.map((ride) => ride.tripId).join(',')}}`],
    );
    for (let i = 1; i < spans.length; i++) {
      if (spans[i]!.driver_id !== spans[i - 1]!.driver_id) continue;
      assert.ok(new Date(spans[i]!.assigned_at) >= new Date(spans[i - 1]!.ended_at), `driver ${spans[i]!.driver_id} was assigned a trip while on another`);
    }

    // Every event trips recorded for these trips reached drivers, once (even those the lost stream held).
    const recorded = await rides.sql<{ id: string }>(`select "id" from "trips"."outbox" where "key" = any(?) and "type" in ('TripMatched', 'TripStarted', 'TripCompleted', 'TripCancelled')`, [`{${all.map((ride) => ride.tripId).join(',')}}`]);
    await waitFor(
      async () => {
        const applied = await rides.sql<{ event_id: string }>(`select "event_id" from "drivers"."processed_events" where "consumer" = 'drivers-trip-reactions' and "event_id" = any(?)`, [`{${recorded.map((row) => row.id).join(',')}}`], 'drivers');
        return applied.length === recorded.length ? true : undefined;
      },
      { timeoutMs: 20_000, what: `drivers to apply all ${recorded.length} trip events` },
    );
    // And drivers' own record agrees: every trip ended there too, no driver left BUSY.
    const open = await rides.sql(`select "trip_id" from "drivers"."driver_trips" where "trip_id" = any(?) and "ended_at" is null`, [`{${all.map((ride) => ride.tripId).join(',')}}`], 'drivers');
    assert.deepEqual(open, []);
    for (const driver of drivers) assert.notEqual(await rides.availability(driver), 'BUSY');
  });
});

const sharedServers = process.env.DATABASE_URL && process.env.REDIS_URL ? undefined : 'needs DATABASE_URL and REDIS_URL: two replicas of a subgraph share Postgres and Redis';
if (sharedServers) console.log(`# skipped: a status stream's subgraph restarted ${sharedServers}`);

describe('faults: the subgraph behind a status stream killed and restarted', { skip: sharedServers }, () => {
  let stack: Stack;
  let rides: Rides;
  before(async () => {
    stack = await startStack({ subgraphs: ['drivers', 'trips'] });
    rides = new Rides(stack);
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
  });

  it('resynchronises from trips\' database: a change another replica made meanwhile arrives, and the stream ends', async () => {
    const { rider, driver, tripId } = await rides.assignedTrip();
    const updates = rides.subscribe(rider, TRIP_UPDATES, { id: tripId });
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'DRIVER_ASSIGNED');

    const other = await stack.startReplica('trips');
    await stack.restart('trips', async () => {
      // Through the other replica while the one the router's upstream stream ran on is gone: its
      // live notification reaches no router (none is subscribed there).
      const arrived = await graphql(other.url, ARRIVE, { id: tripId }, { token: driver.accessToken });
      assert.equal(arrived.body.errors, undefined);
    });

    // The router reconnects and subscribes again; trips starts the stream from the trip as it now is.
    assert.equal((await nextEvent(updates, 15_000, 'the trip after the restart')).data?.tripUpdates.status, 'DRIVER_ARRIVED');
    for (const mutation of [START, COMPLETE]) dataOf(await rides.as(driver, mutation, { id: tripId }));
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'IN_PROGRESS');
    assert.equal((await nextEvent(updates)).data?.tripUpdates.status, 'COMPLETED');
    assert.equal((await updates.next()).done, true, 'the stream ends after its terminal state');
  });

  it('answers a rider\'s trips while accounts is down: only the rider on each trip is missing, with an error', async () => {
    const { rider, tripId } = await rides.assignedTrip();
    const MINE = `query { myTrips(first: 10) { edges { node { id status rider { name } driver { vehicle { plate } } } } } }`;
    await stack.restart('accounts', async () => {
      const answer = await rides.as(rider, MINE, {});
      const [edge] = answer.body.data!.myTrips.edges;
      assert.equal(edge.node.id, tripId);
      assert.equal(edge.node.status, 'DRIVER_ASSIGNED');
      assert.equal(edge.node.rider, null);
      assert.ok(edge.node.driver.vehicle.plate, 'what drivers knows is there');
      assert.deepEqual([...new Set(answer.body.errors?.map((error: any) => error.extensions?.code))], ['SERVICE_UNAVAILABLE'], 'said, not hidden');
    });
    assert.equal(dataOf<any>(await rides.as(rider, MINE, {})).myTrips.edges[0].node.rider.name, rider.name);
  });
});
