/**
 * What a driver app sends and reads, as typed calls: the operations of clients/driver.graphql that a
 * simulated driver needs, with the selections it uses. Behaviour lives in driver-bot.ts.
 */
import type { LatLng } from '../../platform/geo.ts';
import { ApiError, type RouterClient, type Subscription, type SubscriptionSink } from './router-client.ts';
import type { Session } from './session.ts';

/** The driver as drivers and trips see it (the driver themself may read all of it). */
export interface DriverState {
  availability: string;
  currentTrip: { id: string; status: string; pickup: LatLng; dropoff: LatLng } | null;
  lastLocation: { location: LatLng; recordedAt: string } | null;
}

export interface Fix {
  lat: number;
  lng: number;
  heading: number | null;
  speedKmh: number;
  accuracyM: number;
  recordedAt: string;
}

export interface OfferEvent {
  status: string;
  trip: { id: string; pickup: LatLng; dropoff: LatLng };
}

export type DriverStep = 'markArrived' | 'startTrip' | 'completeTrip';

const DRIVER_STATE = `query SimDriverState($id: ID!) { driver(id: $id) { availability currentTrip { id status pickup { lat lng } dropoff { lat lng } } lastLocation { location { lat lng } recordedAt } } }`;
const TRIP_OUTCOME = `query SimTripOutcome($id: ID!) { trip(id: $id) { status cancellation { by } } }`;
const GO_ONLINE = `mutation SimGoOnline { goOnline { id } }`;
const GO_OFFLINE = `mutation SimGoOffline { goOffline { id } }`;
const UPDATE_LOCATION = `mutation SimUpdateLocation($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }`;
const TRIP_OFFERS = `subscription SimTripOffers { tripOffers { status trip { id pickup { lat lng } dropoff { lat lng } } } }`;
const ACCEPT = `mutation SimAcceptTripOffer($tripId: ID!) { acceptTripOffer(tripId: $tripId) { id } }`;
const STEPS: Record<DriverStep, string> = {
  markArrived: `mutation SimMarkArrived($tripId: ID!) { markArrived(tripId: $tripId) { id } }`,
  startTrip: `mutation SimStartTrip($tripId: ID!) { startTrip(tripId: $tripId) { id } }`,
  completeTrip: `mutation SimCompleteTrip($tripId: ID!) { completeTrip(tripId: $tripId) { id } }`,
};

export class DriverApp {
  readonly driverId: string;
  readonly session: Session;
  readonly #api: RouterClient;

  constructor(api: RouterClient, session: Session, driverId: string) {
    this.#api = api;
    this.session = session;
    this.driverId = driverId;
  }

  async state(): Promise<DriverState> {
    const { driver } = await this.session.request<{ driver: DriverState | null }>(DRIVER_STATE, { id: this.driverId });
    if (!driver) throw new ApiError(`driver ${this.driverId} not found`, 'NOT_FOUND');
    return driver;
  }

  async goOnline(): Promise<void> {
    await this.session.request(GO_ONLINE);
  }

  async goOffline(): Promise<void> {
    await this.session.request(GO_OFFLINE);
  }

  async report(fix: Fix): Promise<{ accepted: boolean; rejectedReason: string | null }> {
    return (await this.session.request<{ updateLocation: { accepted: boolean; rejectedReason: string | null } }>(UPDATE_LOCATION, { input: fix })).updateLocation;
  }

  followOffers(sink: SubscriptionSink<OfferEvent>): Subscription {
    return this.#api.subscribe<{ tripOffers: OfferEvent }>(() => this.session.token, TRIP_OFFERS, {}, {
      next: ({ tripOffers }) => sink.next(tripOffers),
      error: (error) => sink.error(error),
      complete: () => sink.complete(),
    });
  }

  async accept(tripId: string): Promise<void> {
    await this.session.request(ACCEPT, { tripId });
  }

  async step(step: DriverStep, tripId: string): Promise<void> {
    await this.session.request(STEPS[step], { tripId });
  }

  /** How a trip the driver had stands now, and who cancelled it if it was cancelled. */
  async tripOutcome(tripId: string): Promise<{ status: string; cancelledBy: string | null } | null> {
    const { trip } = await this.session.request<{ trip: { status: string; cancellation: { by: string } | null } | null }>(TRIP_OUTCOME, { id: tripId });
    return trip && { status: trip.status, cancelledBy: trip.cancellation?.by ?? null };
  }
}
