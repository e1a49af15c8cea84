/**
 * One simulated rider app (the simulator CLI): again and again, a pause, then fare estimates for a
 * ride starting near a free driver, a booking, and the trip followed on `tripUpdates` to its end.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { LatLng } from '../../platform/geo.ts';
import { ApiError, type RouterClient, type Subscription } from './router-client.ts';
import { Session, type Credentials } from './session.ts';
import type { SimulationStats } from './stats.ts';
import type { StreetGrid } from './streets.ts';

export interface RiderTiming {
  /** The pause before each booking (0.5× to 1.5×). */
  thinkMs: number;
  /** A ride's length as the crow flies (0.5× to 1.5×). */
  tripM: number;
  /** How far from the driver it books near the rider stands. */
  pickupWithinM: number;
}

export const RIDER_TIMING: RiderTiming = Object.freeze({ thinkMs: 5_000, tripM: 3_000, pickupWithinM: 400 });

/** Where to book: next to a driver who is free now, in that driver's vehicle class. */
export interface RideTarget {
  position: LatLng;
  vehicleType: string;
}

export interface RiderBotOptions {
  api: RouterClient;
  credentials: Credentials;
  streets: StreetGrid;
  random: () => number;
  logger: Logger;
  stats: SimulationStats;
  /** A driver to book near, or undefined when none is free. */
  nextTarget(): RideTarget | undefined;
  timing?: Partial<RiderTiming>;
  startDelayMs?: number;
}

const FARE_ESTIMATES = `query SimFareEstimates($pickup: LatLngInput!, $dropoff: LatLngInput!, $vehicleTypes: [VehicleType!]) { fareEstimates(pickup: $pickup, dropoff: $dropoff, vehicleTypes: $vehicleTypes) { id } }`;
const REQUEST_TRIP = `mutation SimRequestTrip($input: RequestTripInput!, $idempotencyKey: String!) { requestTrip(input: $input, idempotencyKey: $idempotencyKey) { id } }`;
const TRIP_UPDATES = `subscription SimTripUpdates($tripId: ID!) { tripUpdates(tripId: $tripId) { status cancellation { reason } } }`;
const MY_TRIPS = `query SimMyTrips { myTrips(first: 5) { edges { node { id status } } } }`;
const CANCEL_TRIP = `mutation SimCancelTrip($tripId: ID!, $reason: String!) { cancelTrip(tripId: $tripId, reason: $reason) { id } }`;

const SIMULATION_OVER = 'Simulation over';
const ACTIVE = new Set(['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS']);
const CANCELLABLE = new Set(['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED']);
const MATCHED = new Set(['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);

interface TripUpdate {
  status: string;
  cancellation: { reason: string } | null;
}

export class RiderBot {
  readonly #api: RouterClient;
  readonly #session: Session;
  readonly #options: RiderBotOptions;
  readonly #timing: RiderTiming;
  readonly #logger: Logger;
  readonly #stats: SimulationStats;
  readonly #stopped = new AbortController();
  readonly #run: Promise<void>;
  #booking = true;
  /** The trip being followed, and whether this run booked it (and so counts it). */
  #trip: { id: string; counted: boolean } | undefined;

  constructor(options: RiderBotOptions) {
    this.#api = options.api;
    this.#session = new Session(options.api, options.credentials);
    this.#options = options;
    this.#timing = { ...RIDER_TIMING, ...options.timing };
    this.#logger = options.logger;
    this.#stats = options.stats;
    this.#run = this.#loop(options.startDelayMs ?? 0);
  }

  /** Whether a ride of this rider is under way. */
  get riding(): boolean {
    return this.#trip !== undefined;
  }

  /** Books no more; the ride under way goes on. Resolves when it is over. */
  finishRides(): Promise<void> {
    this.#booking = false;
    return this.#run;
  }

  /** Ends now: the trip's socket is closed, a ride not yet started is cancelled. */
  async stop(): Promise<void> {
    this.#booking = false;
    const trip = this.#trip;
    this.#stopped.abort();
    await this.#run;
    if (!trip) return;
    const cancelled = await this.#cancel(trip.id, SIMULATION_OVER).then(
      () => true,
      () => false, // it had started (or just ended): it stays as it is
    );
    if (cancelled && trip.counted) this.#stats.cancelled(SIMULATION_OVER);
  }

  async #loop(startDelayMs: number) {
    await this.#pause(startDelayMs);
    while (this.#booking && !this.#stopped.signal.aborted) {
      try {
        await this.#session.fresh();
        await this.#ride();
      } catch (error) {
        if (!this.#stopped.signal.aborted) this.#logger.debug({ err: error, code: (error as ApiError).code }, 'simulated rider: ride failed');
      }
      await this.#pause(this.#jitter(this.#timing.thinkMs));
    }
  }

  async #ride() {
    const target = this.#options.nextTarget();
    if (!target) return;
    const { streets, random } = this.#options;
    const near = streets.toMeters(target.position);
    const pickup = streets.onStreet({ x: near.x + (random() - 0.5) * 2 * this.#timing.pickupWithinM, y: near.y + (random() - 0.5) * 2 * this.#timing.pickupWithinM });
    const angle = random() * 2 * Math.PI;
    const length = this.#jitter(this.#timing.tripM);
    const dropoff = streets.onStreet({ x: pickup.x + Math.cos(angle) * length, y: pickup.y + Math.sin(angle) * length });
    const { fareEstimates } = await this.#session.request<{ fareEstimates: Array<{ id: string }> }>(FARE_ESTIMATES, {
      pickup: streets.toLatLng(pickup),
      dropoff: streets.toLatLng(dropoff),
      vehicleTypes: [target.vehicleType],
    });
    if (!fareEstimates[0] || !this.#booking) return;
    const sentAt = this.#stats.now();
    let tripId: string;
    try {
      ({ requestTrip: { id: tripId } } = await this.#session.request<{ requestTrip: { id: string } }>(REQUEST_TRIP, {
        input: { quoteId: fareEstimates[0].id, paymentMethod: 'CASH' },
        idempotencyKey: randomUUID(),
      }));
    } catch (error) {
      // One active trip per rider: a trip left by an earlier run of the simulator is ended first.
      if (error instanceof ApiError && error.code === 'CONFLICT') return this.#endEarlierTrip();
      throw error;
    }
    this.#stats.booked(tripId, sentAt);
    await this.#follow(tripId, true);
  }

  /** Follows the trip to COMPLETED or CANCELLED, counting what it went through. */
  async #follow(tripId: string, counted: boolean) {
    this.#trip = { id: tripId, counted };
    let matched = false;
    try {
      for (;;) {
        const end = await this.#nextEnd(tripId, (update) => {
          if (counted && !matched && MATCHED.has(update.status)) {
            matched = true;
            this.#stats.matched();
          }
        });
        if (!end) {
          if (this.#stopped.signal.aborted) return;
          // The stream failed (token expired, router restarting): subscribe again, it starts from the trip as it is now.
          await this.#pause(1_000);
          await this.#session.fresh();
          continue;
        }
        if (!counted) return;
        if (end.status === 'COMPLETED') this.#stats.completed();
        else this.#stats.cancelled(end.cancellation?.reason ?? 'UNKNOWN');
        return;
      }
    } finally {
      this.#trip = undefined;
    }
  }

  /** The trip's final update, or undefined when the stream ended before it. */
  #nextEnd(tripId: string, seen: (update: TripUpdate) => void): Promise<TripUpdate | undefined> {
    if (this.#stopped.signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let last: TripUpdate | undefined;
      let subscription: Subscription | undefined;
      let finished = false;
      const finish = (end: TripUpdate | undefined) => {
        if (finished) return;
        finished = true;
        this.#stopped.signal.removeEventListener('abort', onStop);
        void subscription?.close().then(() => resolve(end));
      };
      const onStop = () => finish(undefined);
      this.#stopped.signal.addEventListener('abort', onStop);
      subscription = this.#api.subscribe<{ tripUpdates: TripUpdate }>(() => this.#session.token, TRIP_UPDATES, { tripId }, {
        next: ({ tripUpdates }) => {
          last = tripUpdates;
          seen(tripUpdates);
        },
        error: (error) => {
          this.#logger.debug({ code: error.code, tripId }, 'simulated rider: tripUpdates failed');
          finish(undefined);
        },
        complete: () => finish(last && !ACTIVE.has(last.status) ? last : undefined),
      });
    });
  }

  /** A trip this rider still has from an earlier run: cancelled if it has not started, otherwise followed to its end. */
  async #endEarlierTrip() {
    const { myTrips } = await this.#session.request<{ myTrips: { edges: Array<{ node: { id: string; status: string } }> } }>(MY_TRIPS);
    const active = myTrips.edges.map((edge) => edge.node).find((trip) => ACTIVE.has(trip.status));
    if (!active) return;
    if (CANCELLABLE.has(active.status)) await this.#cancel(active.id, 'Simulator restarted');
    else await this.#follow(active.id, false);
  }

  #cancel(tripId: string, reason: string) {
    return this.#session.request(CANCEL_TRIP, { tripId, reason });
  }

  #pause(ms: number): Promise<void> {
    return delay(ms, undefined, { signal: this.#stopped.signal, ref: false }).catch(() => undefined);
  }

  #jitter(ms: number): number {
    return ms * (0.5 + this.#options.random());
  }
}
