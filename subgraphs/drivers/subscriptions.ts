import { createAsyncQueue } from '../../platform/async-queue.ts';
import { callOptionsOf } from '../../platform/service-client.ts';
import { forbidden, notFound } from '../../platform/errors.ts';
import { eventStream } from '../../platform/pubsub.ts';
import type { DriversContext } from './context.ts';
import type { Driver } from './entities.ts';
import { locationMessage, type Fix, type LocationMessage } from './live/fixes.ts';
import type { LiveLocations } from './live/engine.ts';
import type { NearbyQuery } from './live/store.ts';
import { nearbyDrivers, nearbyQueryOf, type NearbyArgs, type NearbyDriverView } from './locations.ts';
import { activeTripBetween } from './records.ts';

/** How a location reaches GraphQL (DriverLocation). */
export interface DriverLocationView {
  driverId: string;
  location: { lat: number; lng: number };
  heading: number | null;
  speedKmh: number | null;
  accuracyM: number | null;
  recordedAt: Date;
}

export function driverLocationView(driverId: string, fix: Fix): DriverLocationView {
  return { driverId, location: { lat: fix.lat, lng: fix.lng }, heading: fix.heading, speedKmh: fix.speedKmh, accuracyM: fix.accuracyM, recordedAt: new Date(fix.recordedAt) };
}

const viewOfMessage = (message: LocationMessage): DriverLocationView => ({
  driverId: message.driverId,
  location: { lat: message.lat, lng: message.lng },
  heading: message.heading,
  speedKmh: message.speedKmh,
  accuracyM: message.accuracyM,
  recordedAt: new Date(message.recordedAt),
});

/** Followers buffer this many fixes at most; past it the oldest are dropped (a position is only news until the next). */
const FOLLOWER_BUFFER = 16;

/**
 * Subscription fields have a `subscribe` and no `resolve`: graphql-shield then guards `subscribe` (once,
 * at subscription time) rather than every event, and each event is `{ <field>: value }`.
 */
export function subscriptionResolvers(live: LiveLocations) {
  return {
    driverLocation: {
      async subscribe(_: unknown, { driverId }: { driverId: string }, ctx: DriversContext) {
        const driver = await ctx.driversById.load(driverId);
        if (!driver) throw notFound('Driver');
        const principal = ctx.principal!;
        if (principal.role === 'ADMIN' || principal.userId === driver.userId) return followDriver(live, driver);
        // Shield let a rider through for an active trip with this driver: the stream lasts as long as that trip.
        const trip = await ctx.riderTripWithDriver(principal.userId, driver.id, callOptionsOf(ctx));
        if (!trip) throw forbidden();
        return followDriver(live, driver, {
          endedBy: live.keys.tripEndedChannel(trip.tripId),
          stillAllowed: async () => (await activeTripBetween(ctx.em, principal.userId, driver.id))?.tripId === trip.tripId,
        });
      },
    },
    nearbyDriversUpdates: {
      subscribe(_: unknown, args: NearbyArgs, ctx: DriversContext) {
        const query = nearbyQueryOf({ ...args, first: null });
        return nearbyFeed(live, (ids) => ctx.freshDrivers(ids), query);
      },
    },
  };
}

export interface FollowOptions {
  /** A pub/sub channel whose first message ends the stream (the rider's trip ended). */
  endedBy?: string;
  /** Checked once `endedBy` is listened to: an end announced before that is not missed. */
  stillAllowed?: () => Promise<boolean>;
}

/**
 * The driver's last known location, then every fix that goes live. The snapshot is read only once the
 * pub/sub subscription is ready, so no fix falls between the two; a fix that arrived meanwhile may be
 * both the snapshot and queued, and is sent once (live fixes only ever move forward in time).
 * With `endedBy`, the stream completes when that channel speaks (or at once if no longer allowed).
 */
export async function followDriver(live: LiveLocations, driver: Pick<Driver, 'id'>, options: FollowOptions = {}): Promise<AsyncIterableIterator<{ driverLocation: DriverLocationView }>> {
  const stream = live.pubsub.subscribe<LocationMessage>(live.keys.locationChannel(driver.id), { limit: FOLLOWER_BUFFER, overflow: 'drop-oldest' });
  // After a pub/sub gap (Redis lost), the trip's end may have been published meanwhile: asked again.
  const { stillAllowed } = options;
  const resync = stillAllowed ? async () => ((await stillAllowed()) ? [] : ['ended']) : undefined;
  const ended = options.endedBy ? live.pubsub.subscribe<unknown>(options.endedBy, { limit: 1, overflow: 'drop-oldest', resync }) : undefined;
  let snapshot: LocationMessage | undefined;
  try {
    await Promise.all([stream.ready, ended?.ready]);
    if (options.stillAllowed && !(await options.stillAllowed())) {
      await stream.return?.();
    } else {
      const fix = (await live.store.read([driver.id])).get(driver.id)?.fix;
      if (fix) snapshot = locationMessage(driver.id, fix);
    }
  } catch (error) {
    await stream.return?.();
    await ended?.return?.();
    throw error;
  }
  let newest = Number.NEGATIVE_INFINITY;
  const events = eventStream<LocationMessage, { driverLocation: DriverLocationView }>(stream, {
    initial: snapshot ? [snapshot] : [],
    map(message) {
      const at = Date.parse(message.recordedAt);
      if (at <= newest) return undefined; // live fixes only ever move forward in time
      newest = at;
      return { driverLocation: viewOfMessage(message) };
    },
    onEnd: () => ended?.return?.(),
  });
  // The end of the rider's trip ends the stream: the client sees the end at once.
  const finish = () => void events.return!();
  ended?.next().then(finish, finish);
  return events;
}

export interface NearbySnapshot {
  drivers: NearbyDriverView[];
  at: Date;
}

/**
 * A snapshot now, then one every `nearbyUpdatesIntervalMs`. Only the newest snapshot is kept for a slow
 * client; a tick is skipped while the previous snapshot is still being computed. Unsubscribing (or the
 * subgraph stopping) cancels the timer at once.
 */
export function nearbyFeed(
  live: LiveLocations,
  loadDrivers: (ids: string[]) => Promise<Array<Driver | null | Error>>,
  query: NearbyQuery,
): AsyncIterableIterator<{ nearbyDriversUpdates: NearbySnapshot }> {
  let computing = false;
  let untrack: (() => void) | undefined;
  const queue = createAsyncQueue<{ nearbyDriversUpdates: NearbySnapshot }>({ limit: 1, overflow: 'drop-oldest', onReturn: () => untrack?.() });
  const tick = () => {
    if (computing) return;
    computing = true;
    const at = new Date(live.now());
    nearbyDrivers(live, loadDrivers, query).then(
      (drivers) => {
        computing = false;
        queue.push({ nearbyDriversUpdates: { drivers, at } });
      },
      (error: Error) => {
        computing = false;
        queue.end(error);
      },
    );
  };
  const stopTimer = live.scheduler.every(live.nearbyUpdatesIntervalMs, tick);
  untrack = live.trackFeed(() => {
    stopTimer();
    queue.end();
  });
  tick();
  return queue;
}
