import type { EntityManager } from '../../platform/db.ts';
import { forbidden, notFound } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { eventStream, type PubSub } from '../../platform/pubsub.ts';
import type { Principal } from '../../platform/auth.ts';
import { isUuid } from '../../platform/validation.ts';
import type { Trip, TripStatus } from './entities.ts';
import { canSeeTrip, grantOfferView } from './policy.ts';
import { inList, OFFERS, query, snapshotOf, TRIPS, tripFromRow, type Row, type TripSnapshot } from './rows.ts';

const channels = {
  trip: (tripId: string) => `trips:trip:${tripId}`,
  offers: (driverUserId: string) => `trips:offers:${driverUserId}`,
};

/**
 * TripOffer.status: PENDING for a new offer; the others say why it ended. A driver's own accept is not
 * among them (their mutation answers it); WITHDRAWN offers (a row status) are TAKEN or CANCELLED here.
 */
export type OfferStreamStatus = 'PENDING' | 'TAKEN' | 'CANCELLED' | 'EXPIRED' | 'DECLINED';
export type OfferEnd = Exclude<OfferStreamStatus, 'PENDING'>;

/** The trip as a driver whose offer ended may see it: not who won it (the row the ending transaction left names them). */
function endedOfferTrip(trip: TripSnapshot): TripSnapshot {
  return { ...trip, driver_id: null, driver_user_id: null };
}

/** What a driver's offer stream carries per offer made or ended. */
export interface OfferMessage {
  offerId: string;
  status: OfferStreamStatus;
  round: number;
  expiresAt: string;
  pickupDistanceM: number;
  trip: TripSnapshot;
}

/** TripOffer as GraphQL resolves it. */
export interface TripOfferView {
  trip: Trip;
  status: OfferStreamStatus;
  expiresAt: Date;
  round: number;
  pickupDistanceM: number;
}

/** The columns an `update … trip_offers … returning` hands to `TripNotifier.offersEnded`. */
export const ENDED_OFFER_COLUMNS = `"id", "driver_id", "driver_user_id", "round", "expires_at", "pickup_distance_m"`;
export type EndedOfferRow = {
  id: string;
  driver_id: string;
  driver_user_id: string;
  round: number;
  expires_at: Date | string;
  pickup_distance_m: number;
};

const TERMINAL: readonly TripStatus[] = ['COMPLETED', 'CANCELLED'];

const snapshotsOf = (rows: ReadonlyArray<Row | undefined>) => rows.filter((row): row is Row => row !== undefined).map(snapshotOf);

/**
 * Tells subscribers what changed, after the change committed (the outbox carries the durable events;
 * these are the live view of them). Publishing never fails the caller: the state is already written.
 */
export class TripNotifier {
  readonly #pubsub: PubSub;
  readonly #logger: Logger;

  constructor(pubsub: PubSub, logger: Logger) {
    this.#pubsub = pubsub;
    this.#logger = logger;
  }

  async tripChanged(row: Row): Promise<void> {
    await this.#publish(channels.trip(String(row.id)), snapshotOf(row));
  }

  async offered(trip: Row, offers: Array<{ id: string; driverUserId: string; round: number; expiresAt: Date; pickupDistanceM: number }>): Promise<void> {
    const snapshot = snapshotOf(trip);
    await Promise.all(
      offers.map((offer) =>
        this.#publish(channels.offers(offer.driverUserId), {
          offerId: offer.id,
          status: 'PENDING',
          round: offer.round,
          expiresAt: offer.expiresAt.toISOString(),
          pickupDistanceM: offer.pickupDistanceM,
          trip: snapshot,
        } satisfies OfferMessage),
      ),
    );
  }

  /**
   * Offers that ended (another driver won, the trip was cancelled, the round ran out, the driver
   * declined), on each offered driver's stream: their app takes the offer off the screen instead of
   * waiting for a late accept to get CONFLICT. `trip` is the row as the ending transaction left it.
   */
  async offersEnded(trip: Row, offers: readonly EndedOfferRow[], status: OfferEnd): Promise<void> {
    if (offers.length === 0) return;
    const snapshot = snapshotOf(trip);
    await Promise.all(
      offers.map((offer) =>
        this.#publish(channels.offers(offer.driver_user_id), {
          offerId: offer.id,
          status,
          round: offer.round,
          expiresAt: new Date(offer.expires_at).toISOString(),
          pickupDistanceM: offer.pickup_distance_m,
          trip: snapshot,
        } satisfies OfferMessage),
      ),
    );
  }

  /**
   * Waits for the publish at most PUBLISH_WAIT_MS: while Redis is away, ioredis holds a command through
   * its reconnect attempts (seconds), and a ride must not wait for its live view. The publish goes on
   * (or fails, logged) after the mutation answers; subscribers read the trip again when pub/sub is back.
   */
  async #publish(channel: string, message: unknown) {
    const published = this.#pubsub.publish(channel, message).then(
      () => true,
      (error: unknown) => {
        this.#logger.warn({ err: error, channel }, 'could not publish a trip notification');
        return false;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, PUBLISH_WAIT_MS)));
    await Promise.race([published, waited]);
    clearTimeout(timer);
  }
}

/** How long a state change waits for its live notification before answering anyway. */
const PUBLISH_WAIT_MS = 250;

/**
 * The trip as it is now, then every later transition, in order (`version` tells a transition already
 * sent from a new one); the stream ends after COMPLETED or CANCELLED. The snapshot is read once the
 * pub/sub subscription is ready, so no transition falls between the two. Status streams never drop:
 * a subscriber that falls 100 transitions behind gets an error, not a gap.
 */
export async function followTrip(pubsub: PubSub, em: EntityManager, principal: Principal | undefined, tripId: string): Promise<AsyncIterableIterator<{ tripUpdates: Trip }>> {
  if (!isUuid(tripId)) throw notFound('Trip');
  const read = async () => (await query(em, `select * from ${TRIPS} where "id" = ?`, [tripId]))[0];
  // After a pub/sub gap (Redis lost) the trip is read again: a transition published meanwhile is not lost
  // to this stream (`version` drops the read if nothing changed).
  const stream = pubsub.subscribe<TripSnapshot>(channels.trip(tripId), { overflow: 'fail', resync: async () => snapshotsOf([await read()]) });
  let now: Row;
  try {
    await stream.ready;
    const row = await read();
    if (!row) throw notFound('Trip');
    if (!canSeeTrip(principal, tripFromRow(em, row))) throw forbidden('Only the rider, the assigned driver and admins follow a trip.');
    now = row;
  } catch (error) {
    await stream.return?.();
    throw error;
  }
  let version = Number.NEGATIVE_INFINITY;
  return eventStream<Row, { tripUpdates: Trip }>(stream, {
    initial: [now],
    map(message) {
      const trip = tripFromRow(em, message);
      if (trip.version <= version) return undefined;
      version = trip.version;
      return { tripUpdates: trip };
    },
    isLast: (event) => TERMINAL.includes(event.tripUpdates.status),
  });
}

/**
 * The signed-in driver's offers: those still pending when they subscribe (an app reconnecting sees what
 * it missed), then each new one (PENDING) and each end of one (TAKEN, CANCELLED, EXPIRED, DECLINED).
 * An offer is sent as new at most once and as ended at most once, and never as new after its end:
 * the end of an offer may be published (by the replica that ended it) before the replica that made it
 * publishes it as new, and a pending offer read at subscription time may also arrive on the stream.
 */
export async function followOffers(pubsub: PubSub, em: EntityManager, driverUserId: string, now: () => Date): Promise<AsyncIterableIterator<{ tripOffers: TripOfferView }>> {
  const pending = async (): Promise<OfferMessage[]> => {
    const rows = await query<Row & { offer_id: string; offer_round: number; offer_expires_at: Date; offer_distance_m: number }>(
      em,
      `select t.*, o."id" as "offer_id", o."round" as "offer_round", o."expires_at" as "offer_expires_at", o."pickup_distance_m" as "offer_distance_m"
       from ${OFFERS} o join ${TRIPS} t on t."id" = o."trip_id"
       where o."driver_user_id" = ? and o."status" = 'PENDING' and o."expires_at" > ? and t."status" in ${inList(['REQUESTED', 'MATCHING'])}
       order by o."offered_at"`,
      [driverUserId, now()],
    );
    return rows.map(({ offer_id, offer_round, offer_expires_at, offer_distance_m, ...trip }) => ({
      offerId: offer_id,
      status: 'PENDING',
      round: offer_round,
      expiresAt: new Date(offer_expires_at).toISOString(),
      pickupDistanceM: offer_distance_m,
      trip: snapshotOf(trip),
    }));
  };
  // After a pub/sub gap (Redis lost), offers still pending are read again: one made meanwhile still
  // reaches the driver (one already sent is not sent twice). Ends published meanwhile are lost; the
  // driver's accept of such an offer answers CONFLICT, as for any offer that ended.
  const stream = pubsub.subscribe<OfferMessage>(channels.offers(driverUserId), { overflow: 'fail', resync: pending });
  let queued: OfferMessage[] = [];
  try {
    await stream.ready;
    queued = await pending();
  } catch (error) {
    await stream.return?.();
    throw error;
  }
  /** What the stream already said about each offer: sent as new, or sent as ended (final). */
  const said = new Map<string, 'offered' | 'ended'>();
  const view = (message: OfferMessage): { tripOffers: TripOfferView } => ({
    tripOffers: {
      trip: grantOfferView(tripFromRow(em, (message.status ?? 'PENDING') === 'PENDING' ? message.trip : endedOfferTrip(message.trip)), driverUserId),
      // Messages published before `status` existed (a rolling deploy) were all new offers.
      status: message.status ?? 'PENDING',
      expiresAt: new Date(message.expiresAt),
      round: message.round,
      pickupDistanceM: message.pickupDistanceM,
    },
  });
  return eventStream<OfferMessage, { tripOffers: TripOfferView }>(stream, {
    initial: queued,
    map(message) {
      const ending = (message.status ?? 'PENDING') !== 'PENDING';
      const before = said.get(message.offerId);
      if (before === 'ended' || (before === 'offered' && !ending)) return undefined;
      said.set(message.offerId, ending ? 'ended' : 'offered');
      return view(message);
    },
  });
}
