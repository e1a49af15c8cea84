/**
 * One simulated driver app. It uses the public API through the router exactly as a phone would: logs
 * in, goes online, reports a position every few seconds, follows `tripOffers` over graphql-ws, accepts
 * an offer after looking at it for a moment, drives to the pickup along the streets, `markArrived`,
 * `startTrip`, drives to the drop-off, `completeTrip`, and cruises on.
 *
 * A real driver app always wins. When anything else acts on this driver — it goes offline, another
 * device reports a position, accepts or declines an offer, moves or cancels its trip, or an action is
 * answered CONFLICT/FORBIDDEN — the bot backs off: it closes its socket, sends nothing for
 * `backOffMs` (10 minutes), and then takes the driver back only if nobody has used it meanwhile
 * (OFFLINE, not on a trip, no fix from anyone for a minute), going online once; otherwise it waits
 * another `backOffMs`. It never argues with the other device. A trip the rider (or dispatch) cancels
 * is ordinary life: the bot drops it and cruises on. Losing an offer to another driver is too.
 * When it first starts, a driver already on a ride that nobody reports positions for (npm start
 * restarted mid-ride) is driven to the end of that ride.
 *
 * Everything a bot does happens in its tick (a timer, one step at a time), so no two actions of one
 * driver ever race; socket events only record what came.
 */
import type { Logger } from 'pino';
import type { LatLng } from '../../platform/geo.ts';
import { DriverApp, type DriverState, type DriverStep } from './driver-app.ts';
import { ApiError, isTransient, type RouterClient, type Subscription } from './router-client.ts';
import { Session, type Credentials } from './session.ts';
import type { SimulationStats } from './stats.ts';
import { Route, type Meters, type StreetGrid } from './streets.ts';

export interface DriverTiming {
  /** How often the bot wakes up to move and act. */
  tickMs: number;
  /** How often it reports its position (drivers accepts one live fix per 2 s and drops a driver after 30 s without one). */
  fixIntervalMs: number;
  /** How often it reads its driver's state to notice another device. */
  checkEveryMs: number;
  /** How long it looks at an offer before accepting (each time 0.5× to 1.5× of it). */
  acceptAfterMs: number;
  /** How long the rider takes to get in at the pickup (0.5× to 1.5×). */
  boardingMs: number;
  /** Speed while cruising without a rider, and on the way to a pickup and with a rider. */
  cruiseSpeedKmh: number;
  tripSpeedKmh: number;
  /** How far from the centre of its cruising area it cruises. */
  cruiseRadiusM: number;
  /** How long it leaves the driver alone after someone else acted on it. */
  backOffMs: number;
}

/** A city pace: a few seconds to accept, 25 km/h cruising, 40 km/h on a trip. */
export const CITY_TIMING: DriverTiming = Object.freeze({
  tickMs: 1_000,
  fixIntervalMs: 3_000,
  checkEveryMs: 10_000,
  acceptAfterMs: 4_000,
  boardingMs: 5_000,
  cruiseSpeedKmh: 25,
  tripSpeedKmh: 40,
  cruiseRadiusM: 3_000,
  backOffMs: 10 * 60_000,
});

/** A driver found in use when the bot first looks is looked at again this soon (a restart may leave it online for 30 s). */
const FIRST_LOOK_RETRY_MS = 60_000;
/** Nobody is using a driver whose last fix is older than this. */
const QUIET_MS = 60_000;

interface TripPlan {
  id: string;
  pickup: LatLng;
  dropoff: LatLng;
}

type Phase =
  | { kind: 'starting' }
  | { kind: 'cruising' }
  | { kind: 'to-pickup'; trip: TripPlan }
  | { kind: 'at-pickup'; trip: TripPlan; startAt: number }
  | { kind: 'to-dropoff'; trip: TripPlan }
  | { kind: 'backing-off'; until: number; reason: string }
  | { kind: 'stopped' };

export type DriverBotPhase = Phase['kind'];

/** The trip status a bot expects in each phase of a ride; any other means someone else moved it. */
const EXPECTED_STATUS: Partial<Record<DriverBotPhase, string>> = { 'to-pickup': 'DRIVER_ASSIGNED', 'at-pickup': 'DRIVER_ARRIVED', 'to-dropoff': 'IN_PROGRESS' };

export interface DriverBotOptions {
  api: RouterClient;
  credentials: Credentials;
  /** The driver profile's id. */
  driverId: string;
  /** Where the car starts. */
  home: LatLng;
  /** The centre of the area it cruises in when it has no rider (default: home). */
  cruiseAround?: LatLng;
  streets: StreetGrid;
  /** The bot's own random source (seeded: a run can be replayed). */
  random: () => number;
  logger: Logger;
  timing?: Partial<DriverTiming>;
  stats?: SimulationStats;
  /** Wait this long before the first step (spreads the log-ins of many bots). */
  startDelayMs?: number;
}

export class DriverBot {
  readonly driverId: string;
  readonly #app: DriverApp;
  readonly #streets: StreetGrid;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #timing: DriverTiming;
  readonly #stats: SimulationStats | undefined;
  readonly #cruiseCenter: Meters;

  #phase: Phase = { kind: 'starting' };
  #route: Route;
  #lastMoveAt = Date.now();
  #speedKmh = 0;
  /** Whether it sends positions (not while finishing, offline, a ride it found after a restart). */
  #reporting = false;
  #lastFixAt = 0;
  /** The recordedAt of this bot's recent fixes (sent, whatever came of them): the driver's last fix is either one of them or another device's. */
  readonly #fixesSent: number[] = [];
  /** The driver's last fix when this bot took it over: older fixes are history, not another device at work. */
  #takenOverFixAt = 0;
  #lastCheckAt = 0;
  #offer: { trip: TripPlan; acceptAt: number } | undefined;
  #offers: Subscription | undefined;
  #offersRetryAt = 0;
  /** What socket events saw another device do; the next tick backs off for it. */
  #interference: string | undefined;
  /** Whether this bot has had the driver (online or finishing a ride) since it started. */
  #hadDriver = false;
  readonly #closing = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #ticks = 0;
  #troubled = false;
  #stopped = false;

  constructor(options: DriverBotOptions) {
    this.driverId = options.driverId;
    this.#app = new DriverApp(options.api, new Session(options.api, options.credentials), options.driverId);
    this.#streets = options.streets;
    this.#random = options.random;
    this.#logger = options.logger.child({ driverId: options.driverId });
    this.#timing = { ...CITY_TIMING, ...options.timing };
    this.#stats = options.stats;
    this.#route = new Route([this.#streets.onStreet(this.#streets.toMeters(options.home))]);
    this.#cruiseCenter = this.#streets.toMeters(options.cruiseAround ?? options.home);
    this.#schedule(options.startDelayMs ?? 0);
  }

  get phase(): DriverBotPhase {
    return this.#phase.kind;
  }

  /** Why it is backing off, while it is. */
  get backOffReason(): string | undefined {
    return this.#phase.kind === 'backing-off' ? this.#phase.reason : undefined;
  }

  get position(): LatLng {
    return this.#streets.toLatLng(this.#route.position);
  }

  /** Steps taken so far (tests wait for a few more to see that nothing happens). */
  get ticks(): number {
    return this.#ticks;
  }

  /** Stops at once between steps: waits for the step in flight, closes its socket, and goes offline if it was only cruising. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    const cruising = this.#phase.kind === 'cruising' && this.#reporting;
    this.#phase = { kind: 'stopped' };
    this.#closeOffers();
    await Promise.all(this.#closing);
    if (cruising) await this.#app.goOffline().catch(() => undefined);
  }

  #schedule(delayMs: number) {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick = this.#step()
        .then(() => this.#recovered())
        .catch((error) => this.#failed(error))
        .finally(() => {
          this.#tick = undefined;
          this.#ticks += 1;
          if (!this.#stopped) this.#schedule(this.#timing.tickMs);
        });
    }, delayMs);
    this.#timer.unref();
  }

  async #step() {
    const now = Date.now();
    const phase = this.#phase;
    if (phase.kind === 'stopped') return;
    if (phase.kind === 'starting') return this.#takeOver();
    if (phase.kind === 'backing-off') return now >= phase.until ? this.#takeOver() : undefined;
    if (this.#interference) return this.#backOff(this.#interference);

    if (await this.#app.session.fresh(now)) this.#closeOffers(); // the socket must carry the new token
    this.#followOffers(now);
    this.#drive(now);
    await this.#actOnArrival(now);
    await this.#acceptDueOffer(now);
    if (this.#reporting && this.#driving() && now - this.#lastFixAt >= this.#timing.fixIntervalMs) await this.#report(now);
    if (this.#driving() && now - this.#lastCheckAt >= this.#timing.checkEveryMs) await this.#check(now);
  }

  #driving(): boolean {
    const kind = this.#phase.kind;
    return kind === 'cruising' || kind === 'to-pickup' || kind === 'at-pickup' || kind === 'to-dropoff';
  }

  /**
   * Starting, or after a back-off: takes the driver only if nobody is using it — no fix from another
   * device for a minute, OFFLINE — and goes online once. A ride the driver is on is driven to its end
   * only before the bot ever had the driver (npm start restarted mid-ride, a rerun of the simulator);
   * after a back-off it means someone else has the driver. Otherwise it looks again later.
   */
  async #takeOver() {
    const retryMs = this.#hadDriver ? this.#timing.backOffMs : Math.min(FIRST_LOOK_RETRY_MS, this.#timing.backOffMs);
    await this.#app.session.fresh();
    const state = await this.#app.state();
    const now = Date.now();
    this.#lastCheckAt = now;
    const fixAt = state.lastLocation ? Date.parse(state.lastLocation.recordedAt) : 0;
    if (this.#foreign(state.lastLocation) && fixAt > now - QUIET_MS) return this.#backOff('another device reports its position', retryMs);
    if (state.currentTrip && this.#hadDriver) return this.#backOff('it is on a trip this simulation did not accept', retryMs);
    if (state.availability !== 'OFFLINE' && !state.currentTrip) return this.#backOff(`it is ${state.availability} without this simulation`, retryMs);
    if (state.lastLocation) this.#moveTo(this.#streets.toMeters(state.lastLocation.location));
    this.#takenOverFixAt = fixAt;
    this.#hadDriver = true;
    if (state.currentTrip) return this.#resumeRide(state.currentTrip, state.availability !== 'OFFLINE');
    await this.#app.goOnline();
    this.#logger.debug('simulated driver is online');
    this.#reporting = true;
    this.#cruise(now);
    await this.#report(now);
  }

  /** A ride the driver was on when the bot took over (npm start restarted mid-ride): finish it. */
  #resumeRide(trip: NonNullable<DriverState['currentTrip']>, online: boolean) {
    const plan = { id: trip.id, pickup: trip.pickup, dropoff: trip.dropoff };
    this.#reporting = online; // an OFFLINE driver cannot report; it goes online after the ride
    this.#logger.info({ tripId: trip.id, status: trip.status }, 'simulated driver finishes the ride it was on');
    if (trip.status === 'DRIVER_ASSIGNED') this.#headFor({ kind: 'to-pickup', trip: plan }, plan.pickup);
    else if (trip.status === 'DRIVER_ARRIVED') this.#phase = { kind: 'at-pickup', trip: plan, startAt: Date.now() + this.#jitter(this.#timing.boardingMs) };
    else this.#headFor({ kind: 'to-dropoff', trip: plan }, plan.dropoff);
  }

  #backOff(reason: string, forMs = this.#timing.backOffMs) {
    const until = Date.now() + forMs;
    this.#phase = { kind: 'backing-off', until, reason };
    this.#interference = undefined;
    this.#offer = undefined;
    this.#reporting = false;
    this.#closeOffers();
    this.#logger.info({ reason, resumesAt: new Date(until).toISOString() }, 'simulated driver backs off: someone else is using it');
  }

  #followOffers(now: number) {
    if (this.#offers || now < this.#offersRetryAt || !this.#reporting) return;
    const subscription = this.#app.followOffers({
      next: ({ status, trip }) => this.#offerEvent(status, trip),
      error: (error) => this.#offersEnded(subscription, error),
      complete: () => this.#offersEnded(subscription),
    });
    this.#offers = subscription;
  }

  #offersEnded(subscription: Subscription, error?: ApiError) {
    if (this.#offers !== subscription) return;
    this.#logger.debug({ code: error?.code }, 'tripOffers ended; subscribing again shortly');
    this.#closeOffers();
    this.#offersRetryAt = Date.now() + 2_000;
  }

  #closeOffers() {
    const subscription = this.#offers;
    this.#offers = undefined;
    if (!subscription) return;
    const closing = subscription.close().finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }

  /** Socket events only take note; the tick decides. */
  #offerEvent(status: string, trip: TripPlan) {
    if (status === 'PENDING') {
      this.#stats?.offerSeen(trip.id);
      if (this.#phase.kind === 'cruising' && !this.#offer) this.#offer = { trip, acceptAt: Date.now() + this.#jitter(this.#timing.acceptAfterMs) };
      return;
    }
    if (this.#offer?.trip.id === trip.id) this.#offer = undefined;
    // This bot never declines: a decline came from another device of this driver.
    if (status === 'DECLINED') this.#interference = 'another device declined an offer';
  }

  async #acceptDueOffer(now: number) {
    const offer = this.#offer;
    if (!offer || now < offer.acceptAt || this.#phase.kind !== 'cruising') return;
    this.#offer = undefined;
    try {
      await this.#app.accept(offer.trip.id);
    } catch (error) {
      // Losing the race (taken, expired, cancelled by the rider) is ordinary; an accept or decline
      // from this driver's other device, or a trip it already drives, is not.
      const mine = error instanceof ApiError && (error.extensions.offerStatus === 'ACCEPTED' || error.extensions.offerStatus === 'DECLINED' || error.extensions.reason === 'DRIVER_BUSY');
      if (error instanceof ApiError && error.code === 'CONFLICT' && !mine) return this.#logger.debug({ tripId: offer.trip.id, offerStatus: error.extensions.offerStatus }, 'offer gone before the accept');
      throw error;
    }
    this.#logger.debug({ tripId: offer.trip.id }, 'simulated driver accepted a trip');
    this.#headFor({ kind: 'to-pickup', trip: offer.trip }, offer.trip.pickup);
  }

  #drive(now: number) {
    const seconds = Math.max(0, now - this.#lastMoveAt) / 1000;
    this.#lastMoveAt = now;
    const kind = this.#phase.kind;
    const speedKmh = kind === 'cruising' ? this.#timing.cruiseSpeedKmh : kind === 'to-pickup' || kind === 'to-dropoff' ? this.#timing.tripSpeedKmh : 0;
    this.#route.advance((speedKmh / 3.6) * seconds);
    this.#speedKmh = this.#route.done ? 0 : speedKmh;
  }

  async #actOnArrival(now: number) {
    const phase = this.#phase;
    if (phase.kind === 'at-pickup' && now >= phase.startAt) {
      if (await this.#driverStep('startTrip', phase.trip)) this.#headFor({ kind: 'to-dropoff', trip: phase.trip }, phase.trip.dropoff);
      return;
    }
    if (!this.#route.done) return;
    if (phase.kind === 'cruising') this.#cruise(now);
    else if (phase.kind === 'to-pickup') {
      if (await this.#driverStep('markArrived', phase.trip)) this.#phase = { kind: 'at-pickup', trip: phase.trip, startAt: now + this.#jitter(this.#timing.boardingMs) };
    } else if (phase.kind === 'to-dropoff' && (await this.#driverStep('completeTrip', phase.trip))) {
      this.#logger.debug({ tripId: phase.trip.id }, 'simulated driver completed a trip');
      // A ride finished while offline (resumed after a restart) goes online the ordinary way.
      if (this.#reporting) this.#cruise(now);
      else this.#phase = { kind: 'starting' };
    }
  }

  /** One step of the ride; false when the rider or dispatch cancelled the trip meanwhile (the bot cruises on). */
  async #driverStep(step: DriverStep, trip: TripPlan): Promise<boolean> {
    try {
      await this.#app.step(step, trip.id);
      return true;
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'CONFLICT') throw error;
      await this.#tripEndedElsewhere(trip.id);
      return false;
    }
  }

  /** The bot's trip is no longer its current trip: cancelled by the rider (cruise on), or moved by another device (back off). */
  async #tripEndedElsewhere(tripId: string) {
    const trip = await this.#app.tripOutcome(tripId);
    if (trip?.status === 'CANCELLED' && trip.cancelledBy !== 'DRIVER') {
      this.#logger.debug({ tripId, by: trip.cancelledBy }, 'the trip was cancelled; cruising on');
      if (this.#reporting) this.#cruise(Date.now());
      else this.#phase = { kind: 'starting' };
      return;
    }
    this.#backOff(`its trip is ${trip?.status ?? 'gone'} without this simulation`);
  }

  async #report(now: number) {
    this.#lastFixAt = now;
    this.#fixesSent.push(now);
    if (this.#fixesSent.length > 20) this.#fixesSent.shift();
    const { lat, lng } = this.position;
    const input = { lat, lng, heading: this.#route.heading, speedKmh: this.#speedKmh, accuracyM: 5 + Math.round(this.#random() * 5), recordedAt: new Date(now).toISOString() };
    let result: Awaited<ReturnType<DriverApp['report']>>;
    try {
      result = await this.#app.report(input);
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'RATE_LIMITED') throw error;
      // This bot's fixes are further apart than drivers' limit: another device sent one just now. Look at once.
      this.#lastCheckAt = 0;
      return;
    }
    if (result.rejectedReason === 'OUT_OF_ORDER') this.#backOff('another device reported a newer position');
  }

  /** A live fix newer than the bot took the driver over, that the bot did not send. */
  #foreign(lastLocation: DriverState['lastLocation']): boolean {
    if (!lastLocation) return false;
    const fixAt = Date.parse(lastLocation.recordedAt);
    return fixAt > this.#takenOverFixAt && !this.#fixesSent.includes(fixAt);
  }

  /** Reads the driver as drivers and trips see it; anything this bot did not do means another device is at work. */
  async #check(now: number) {
    this.#lastCheckAt = now;
    const state = await this.#app.state();
    const phase = this.#phase;
    if (this.#foreign(state.lastLocation)) return this.#backOff('another device reported a position');
    const trip = 'trip' in phase ? phase.trip : undefined;
    if (!trip) {
      if (state.availability === 'OFFLINE') return this.#backOff('it went offline');
      if (state.currentTrip) return this.#backOff('it is on a trip this simulation did not accept');
      return;
    }
    if (state.currentTrip?.id === trip.id) {
      if (state.currentTrip.status !== EXPECTED_STATUS[phase.kind]) this.#backOff(`its trip became ${state.currentTrip.status} without this simulation`);
      return;
    }
    if (state.currentTrip) return this.#backOff('it is on a trip this simulation did not accept');
    await this.#tripEndedElsewhere(trip.id);
  }

  /** Cruise: to a random corner of its cruising area. */
  #cruise(now: number) {
    this.#phase = { kind: 'cruising' };
    this.#route = this.#streets.route(this.#route.position, this.#streets.randomCorner(this.#cruiseCenter, this.#timing.cruiseRadiusM, this.#random));
    this.#lastMoveAt = now;
  }

  #headFor(phase: Phase, destination: LatLng) {
    this.#phase = phase;
    this.#route = this.#streets.route(this.#route.position, this.#streets.toMeters(destination));
  }

  #moveTo(point: Meters) {
    this.#route = new Route([this.#streets.onStreet(point)]);
  }

  #jitter(ms: number): number {
    return ms * (0.5 + this.#random());
  }

  /** Transient failures (the router restarting, a timeout) are retried by the next tick; anything else means someone else acts on the driver. */
  #failed(error: unknown) {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
      this.#app.session.forget();
      return;
    }
    if (isTransient(error)) {
      const code = error instanceof ApiError ? error.code : undefined;
      if (this.#troubled) this.#logger.debug({ code, err: error }, 'simulated driver step failed');
      else this.#logger.warn({ code, err: error }, 'simulated driver step failed; retrying');
      this.#troubled = true;
      return;
    }
    const { code, message } = error as ApiError;
    this.#backOff(`answered ${code}: ${message}`);
  }

  #recovered() {
    if (!this.#troubled) return;
    this.#troubled = false;
    this.#logger.debug('simulated driver steps work again');
  }
}
