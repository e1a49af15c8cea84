import assert from 'node:assert/strict';
import { dataOf } from '../../support/client.ts';
import { CAIRO, offset, waitFor, type RideDriver, RideFixtures } from '../../support/rides.ts';
import { after, before } from 'node:test';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { newKey, quoteSigner, type QuoteSigner } from './quotes.ts';

export const TRIP_FIELDS = `id status vehicleType fare { amount currency } rider { id } driver { id }
  assignedAt arrivedAt startedAt completedAt cancelledAt cancellation { by reason fee { amount currency } } updatedAt`;
export const REQUEST = `mutation($input: RequestTripInput!, $key: String!) { requestTrip(input: $input, idempotencyKey: $key) { ${TRIP_FIELDS} } }`;
export const ACCEPT = `mutation($id: ID!) { acceptTripOffer(tripId: $id) { ${TRIP_FIELDS} } }`;
export const DECLINE = `mutation($id: ID!) { declineTripOffer(tripId: $id) }`;
export const ARRIVE = `mutation($id: ID!) { markArrived(tripId: $id) { ${TRIP_FIELDS} } }`;
export const START = `mutation($id: ID!) { startTrip(tripId: $id) { ${TRIP_FIELDS} } }`;
export const COMPLETE = `mutation($id: ID!) { completeTrip(tripId: $id) { ${TRIP_FIELDS} } }`;
export const CANCEL = `mutation($id: ID!, $reason: String!) { cancelTrip(tripId: $id, reason: $reason) { ${TRIP_FIELDS} } }`;
export const TRIP = `query($id: ID!) { trip(id: $id) { ${TRIP_FIELDS} } }`;
export const DRIVER_AVAILABILITY = `query($id: ID!) { driver(id: $id) { availability } }`;

export interface OfferRow {
  driver_id: string;
  driver_user_id: string;
  round: number;
  status: string;
  pickup_distance_m: number;
  offered_at: Date;
  expires_at: Date;
}

export interface OutboxRow {
  type: string;
  key: string;
  data: any;
}

let areas = 0;

/**
 * Rides on a running stack (accounts, drivers, trips, router). Every scenario takes a fresh area, 40 km
 * east of the previous one, so drivers of one scenario are never in reach of another's trips.
 */
export class Rides extends RideFixtures {
  readonly sign: QuoteSigner;

  constructor(stack: Stack) {
    super(stack);
    this.sign = quoteSigner(stack);
  }

  freshArea(): { lat: number; lng: number } {
    areas += 1;
    return offset(CAIRO, 0, areas * 40_000);
  }

  /** Books a ride from `pickup` (3 km north), paid in CASH unless told otherwise (WALLET needs a wallet in the stack and money in it). */
  async request(rider: TestUser, pickup: { lat: number; lng: number }, overrides: Record<string, unknown> = {}, paymentMethod: 'CASH' | 'WALLET' = 'CASH', key = newKey()): Promise<any> {
    return dataOf<any>(await this.requestResult(rider, pickup, overrides, paymentMethod, key)).requestTrip;
  }

  /** The same booking's whole answer (errors included). */
  requestResult(rider: TestUser, pickup: { lat: number; lng: number }, overrides: Record<string, unknown> = {}, paymentMethod: 'CASH' | 'WALLET' = 'CASH', key = newKey()) {
    const quoteId = this.sign(rider.id, { pickup, dropoff: offset(pickup, 3_000), ...overrides });
    return this.stack.query(REQUEST, { input: { quoteId, paymentMethod }, key }, { token: rider.accessToken });
  }

  as(user: TestUser, query: string, variables: Record<string, unknown>) {
    return this.stack.query(query, variables, { token: user.accessToken });
  }

  async offers(tripId: string): Promise<OfferRow[]> {
    return this.sql<OfferRow>(`select "driver_id", "driver_user_id", "round", "status", "pickup_distance_m", "offered_at", "expires_at" from "trips"."trip_offers" where "trip_id" = ? order by "round", "pickup_distance_m"`, [tripId]);
  }

  /** Waits until the trip has at least `count` pending offers and returns them. */
  pendingOffers(tripId: string, count = 1, timeoutMs = 10_000): Promise<OfferRow[]> {
    return waitFor(async () => {
      const pending = (await this.offers(tripId)).filter((offer) => offer.status === 'PENDING');
      return pending.length >= count ? pending : undefined;
    }, { what: `${count} pending offers of ${tripId}`, timeoutMs });
  }

  async status(tripId: string): Promise<string> {
    const [row] = await this.sql<{ status: string }>(`select "status" from "trips"."trips" where "id" = ?`, [tripId]);
    return row!.status;
  }

  waitForStatus(tripId: string, status: string, timeoutMs = 10_000): Promise<string> {
    return waitFor(async () => ((await this.status(tripId)) === status ? status : undefined), { timeoutMs, what: `trip ${tripId} to be ${status}` });
  }

  /** The trips outbox, oldest first, for one trip. */
  events(tripId: string): Promise<OutboxRow[]> {
    return this.sql<OutboxRow>(`select "type", "key", "data" from "trips"."outbox" where "key" = ? order by "seq"`, [tripId]);
  }

  async availability(driver: RideDriver): Promise<string> {
    return dataOf<any>(await this.as(driver, DRIVER_AVAILABILITY, { id: driver.driverId })).driver.availability;
  }

  waitForAvailability(driver: RideDriver, availability: string): Promise<string> {
    return waitFor(async () => ((await this.availability(driver)) === availability ? availability : undefined), { what: `driver ${driver.driverId} to be ${availability}` });
  }

  /** A rider's trip with `driver` assigned (offered, then accepted through the API). */
  async assignedTrip(): Promise<{ rider: TestUser; driver: RideDriver; tripId: string; pickup: { lat: number; lng: number } }> {
    const pickup = this.freshArea();
    const driver = await this.onlineDriverAt(offset(pickup, 400));
    const rider = await this.stack.signUp('RIDER');
    const { id: tripId } = await this.request(rider, pickup);
    await this.pendingOffers(tripId);
    const accepted = dataOf<any>(await this.as(driver, ACCEPT, { id: tripId })).acceptTripOffer;
    assert.equal(accepted.status, 'DRIVER_ASSIGNED');
    return { rider, driver, tripId, pickup };
  }

  /** SQL in a subgraph's own database (trips by default): embedded, each subgraph has its own PGlite. */
  sql<T>(query: string, params: unknown[] = [], subgraph: 'trips' | 'drivers' = 'trips'): Promise<T[]> {
    return this.stack.subgraph(subgraph).db.fork().getConnection().execute(query, params as any[], 'all') as Promise<T[]>;
  }
}

/**
 * The suite's stack (drivers and trips behind the router) and its Rides: started before the suite's
 * tests, handed over through `use`, disposed after them.
 */
export function ridesStack(use: (started: { stack: Stack; rides: Rides }) => void, env: Record<string, string> = {}) {
  let started: { stack: Stack; rides: Rides } | undefined;
  before(async () => {
    const stack = await startStack({ subgraphs: ['drivers', 'trips'], env });
    started = { stack, rides: new Rides(stack) };
    use(started);
  });
  after(async () => {
    await started?.rides.dispose();
    await started?.stack.stop();
  });
}
