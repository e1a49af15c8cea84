import { createAsyncQueue } from '../../platform/async-queue.ts';
import { notFound } from '../../platform/errors.ts';
import type { DriversContext } from './context.ts';
import type { Driver } from './entities.ts';
import { locationMessage, type Fix, type LocationMessage } from './live/fixes.ts';
import type { LiveLocations } from './live/engine.ts';
import type { NearbyQuery } from './live/store.ts';
import { nearbyDrivers, nearbyQueryOf, type NearbyArgs, type NearbyDriverView } from './locations.ts';

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
        return followDriver(live, driver);
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

/**
 * The driver's last known location, then every fix that goes live. The snapshot is read only once the
 * pub/sub subscription is ready, so no fix falls between the two; a fix that arrived meanwhile may be
 * both the snapshot and queued, and is sent once (live fixes only ever move forward in time).
 */
export async function followDriver(live: LiveLocations, driver: Pick<Driver, 'id'>): Promise<AsyncIterableIterator<{ driverLocation: DriverLocationView }>> {
  const stream = live.pubsub.subscribe<LocationMessage>(live.keys.locationChannel(driver.id), { limit: FOLLOWER_BUFFER, overflow: 'drop-oldest' });
  let snapshot: LocationMessage | undefined;
  try {
    await stream.ready;
    const fix = (await live.store.read([driver.id])).get(driver.id)?.fix;
    if (fix) snapshot = locationMessage(driver.id, fix);
  } catch (error) {
    await stream.return?.();
    throw error;
  }
  let newest = snapshot ? Date.parse(snapshot.recordedAt) : Number.NEGATIVE_INFINITY;
  const iterator: AsyncIterableIterator<{ driverLocation: DriverLocationView }> = {
    async next() {
      if (snapshot) {
        const first = snapshot;
        snapshot = undefined;
        return { value: { driverLocation: viewOfMessage(first) }, done: false };
      }
      for (;;) {
        const result = await stream.next();
        if (result.done) return { value: undefined, done: true };
        const at = Date.parse(result.value.recordedAt);
        if (at <= newest) continue;
        newest = at;
        return { value: { driverLocation: viewOfMessage(result.value) }, done: false };
      }
    },
    async return() {
      snapshot = undefined;
      await stream.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await stream.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
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
