import { AsyncResource } from 'node:async_hooks';
import type { Database, EntityManager } from '../../platform/db.ts';
import { TripCancelled, TripCompleted, TripMatched, TripStarted, type TripCancelledData, type TripCompletedData, type TripMatchedData, type TripStartedData } from '../../platform/events/contracts/index.ts';
import type { EventOf } from '../../platform/events/index.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Availability, DriverRef } from './availability.ts';
import type { LiveLocations } from './live/engine.ts';
import { countFor, upsertDriverTrip, upsertDriverTrips } from './records.ts';

/** Whether a driver's live state was lost and awaits its rebuild (live/rebuild.ts); Redis only. */
export interface PendingRebuild {
  awaits(driverId: string): Promise<boolean>;
}

/** The consumer group drivers reads trips' stream with. */
export const TRIP_EVENTS_CONSUMER = 'drivers-trip-reactions';
/** The trip events drivers reacts to, by contract. */
export const TRIP_EVENT_CONTRACTS = [TripMatched, TripStarted, TripCompleted, TripCancelled] as const;
export type TripEvent = EventOf<(typeof TRIP_EVENT_CONTRACTS)[number]>;

/**
 * Trips is the authority on who is matched: its winner becomes BUSY from wherever they are, even if
 * their offer was released or expired meanwhile, or they went offline (they did accept, through the
 * API, a moment ago). Left alone: a driver already BUSY (this trip again: a redelivery) or in
 * COOLDOWN (a trip that ended, which an older match must not override).
 */
export const MATCHED_FROM: readonly Availability[] = ['OFFERED', 'AVAILABLE', 'OFFLINE'];

/**
 * How drivers follows trips (consumer of trips' stream; every handler runs in the consumer's
 * transaction, exactly once per event):
 * - TripMatched: record the trip (the rider may now follow the driver), count an accepted offer, the
 *   winner → BUSY, every other driver still OFFERED for that trip → AVAILABLE;
 * - TripStarted: the start of the route;
 * - TripCompleted: the end of the route and of the rider's access, a completed trip counted,
 *   BUSY → COOLDOWN until `cooldownMs` from now (a timer here ends it on time; the sweeper of any
 *   replica is the backstop);
 * - TripCancelled: pending offers of the trip released; with a driver, the record ended, the driver
 *   BUSY → AVAILABLE (no cooldown: they drove nobody), a driver's own cancellation counted.
 * Postgres first, then the live store: a failed commit retries the event, and every live-store move
 * is conditional (on the state and on the trip), so applying one twice changes nothing.
 */
export class TripReactions {
  readonly #live: LiveLocations;
  readonly #cooldownMs: number;
  readonly #logger: Logger;
  readonly #rebuild: PendingRebuild | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** What to do once a handler's transaction commits, by its EntityManager. */
  readonly #afterCommit = new WeakMap<object, Array<() => void>>();
  #embeddedMoves: Promise<void> = Promise.resolve();
  /** Cooldown endings under way (a timer fired): stop() waits for them before the database closes. */
  readonly #endings = new Set<Promise<unknown>>();
  /**
   * Runs a task in the async context this object was built in. MikroORM keeps a transaction's
   * EntityManager in AsyncLocalStorage, and the commit hook fires inside it: work started there (the
   * live-store moves, the cooldown timer they set) would otherwise resolve `db.fork()` and the global
   * em to the handler's fork and its finished transaction, long after the commit.
   */
  readonly #detached = AsyncResource.bind((task: () => void) => task());

  constructor(options: { db: Database; live: LiveLocations; cooldownMs: number; logger: Logger; rebuild?: PendingRebuild }) {
    this.#live = options.live;
    this.#rebuild = options.rebuild;
    this.#cooldownMs = options.cooldownMs;
    this.#logger = options.logger;
    options.db.orm.em.getEventManager().registerSubscriber({
      afterTransactionCommit: (args) => {
        if (args.transaction?.savepointName) return;
        const tasks = this.#afterCommit.get(args.em);
        this.#afterCommit.delete(args.em);
        for (const task of tasks ?? []) this.#detached(task);
      },
      afterTransactionRollback: (args) => {
        if (!args.transaction?.savepointName) this.#afterCommit.delete(args.em);
      },
    });
  }

  /** Runs `task` after `em`'s transaction commits (never if it rolls back). */
  #onCommit(em: EntityManager, task: () => void) {
    const tasks = this.#afterCommit.get(em) ?? [];
    tasks.push(task);
    this.#afterCommit.set(em, tasks);
  }

  handle = async (event: TripEvent, em: EntityManager): Promise<void> => {
    switch (event.type) {
      case 'TripMatched':
        return this.#matched([event.data], em);
      case 'TripStarted':
        return this.#started(event.data, em);
      case 'TripCompleted':
        return this.#completed(event.data, em);
      case 'TripCancelled':
        return this.#cancelled(event.data, em);
    }
  };

  /**
   * The events of one read, in order; each run of TripMatched (a burst of accepts) is applied together,
   * with one statement per table for the run. What `handle` on each in turn would do.
   */
  handleMany = async (events: TripEvent[], em: EntityManager): Promise<void> => {
    for (let start = 0; start < events.length; ) {
      let end = start + 1;
      if (events[start]!.type === 'TripMatched') while (end < events.length && events[end]!.type === 'TripMatched') end += 1;
      if (end - start > 1) await this.#matched(events.slice(start, end).flatMap((event) => (event.type === 'TripMatched' ? [event.data] : [])), em);
      else await this.handle(events[start]!, em);
      start = end;
    }
  };

  async #matched(matches: TripMatchedData[], em: EntityManager) {
    const records = await upsertDriverTrips(em, matches.map((data) => ({ ...partiesOf(data), matchedAt: new Date(data.matchedAt) })));
    await countFor(em, matches.map((data) => data.driverId), 'offers_accepted');
    const known = await this.#live.directory.byIds(matches.map((data) => data.driverId), em);
    const drivers = matches.map((data) => known.get(data.driverId) ?? this.#unknownDriver(data.driverId));
    await this.#moveLive(em, async () => {
      const now = this.#live.now();
      await Promise.all(
        matches.map(async (data, i) => {
          const driver = drivers[i];
          if (driver && records.get(data.tripId)?.endedAt === null) {
            const { moved, previous } = await this.#live.store.transition(driver, 'BUSY', MATCHED_FROM, now, { tripId: data.tripId });
            if (moved && previous !== 'OFFERED') this.#logger.warn({ tripId: data.tripId, driverId: data.driverId, previous }, 'matched driver was no longer offered the trip; BUSY anyway');
            if (!moved && previous !== 'BUSY') this.#logger.warn({ tripId: data.tripId, driverId: data.driverId, previous }, 'matched driver could not become BUSY');
          }
          await this.#live.store.releaseTrip(data.tripId, data.driverId, now);
        }),
      );
    });
  }

  async #started(data: TripStartedData, em: EntityManager) {
    await upsertDriverTrip(em, { ...partiesOf(data), startedAt: new Date(data.startedAt) });
  }

  async #completed(data: TripCompletedData, em: EntityManager) {
    await upsertDriverTrip(em, { ...partiesOf(data), endedAt: new Date(data.completedAt), outcome: 'COMPLETED' });
    await countFor(em, [data.driverId], 'trips_completed');
    const driver = await this.#driver(data.driverId, em);
    await this.#moveLive(em, async () => {
      if (!driver) return;
      const now = this.#live.now();
      const cooldownUntil = now + this.#cooldownMs;
      const { moved, previous } = await this.#live.store.transition(driver, 'COOLDOWN', ['BUSY'], now, { tripId: data.tripId, requireTrip: true, cooldownUntil });
      if (moved) return this.#endCooldownAt(cooldownUntil);
      if (previous === 'OFFLINE') await this.#unlessLost(driver, data.tripId);
      if (previous !== 'COOLDOWN') this.#logger.warn({ tripId: data.tripId, driverId: data.driverId, previous }, 'completed trip: driver was not BUSY on it');
    });
    this.#tripEnded(em, data.tripId);
  }

  async #cancelled(data: TripCancelledData, em: EntityManager) {
    let driver: DriverRef | null = null;
    if (data.driverId && data.driverUserId) {
      await upsertDriverTrip(em, { tripId: data.tripId, riderId: data.riderId, driverId: data.driverId, driverUserId: data.driverUserId, endedAt: new Date(data.cancelledAt), outcome: 'CANCELLED' });
      if (data.cancelledBy === 'DRIVER') await countFor(em, [data.driverId], 'trips_cancelled_by_driver');
      driver = await this.#driver(data.driverId, em);
    }
    await this.#moveLive(em, async () => {
      const now = this.#live.now();
      if (driver) {
        const { moved, previous } = await this.#live.store.transition(driver, 'AVAILABLE', ['BUSY', 'OFFERED'], now, { tripId: data.tripId, requireTrip: true });
        if (!moved && previous === 'OFFLINE') await this.#unlessLost(driver, data.tripId);
      }
      await this.#live.store.releaseTrip(data.tripId, null, now);
    });
    this.#tripEnded(em, data.tripId);
  }

  /**
   * Live-store moves. With Redis: inside the handler, before its transaction commits, so a crash in
   * between redelivers the event and the (conditional) moves simply happen again. Embedded: after the
   * commit, since the in-process store mirrors positions to Postgres outside the transaction, and
   * PGlite's one connection is held by it; the in-process state dies with the process anyway.
   */
  async #moveLive(em: EntityManager, moves: () => Promise<void>) {
    if (this.#live.store.kind === 'redis') return moves();
    this.#onCommit(em, () => {
      // In event order: one event's moves finish before the next event's start.
      this.#embeddedMoves = this.#embeddedMoves.then(moves).catch((error) => this.#logger.error({ err: error }, 'applying a trip event to the live store failed'));
    });
  }

  /**
   * A trip's end found its driver OFFLINE: fine if they are (they went offline on the trip's last
   * stretch), but if Redis lost their live state and it is not rebuilt yet, the move is lost with it —
   * the rebuild would make them BUSY on the ended trip for good. Thrown: the transaction rolls back and
   * the event is retried once the rebuild (seconds) put them back on the trip.
   */
  async #unlessLost(driver: DriverRef, tripId: string) {
    if (await this.#rebuild?.awaits(driver.id)) throw new Error(`the live state of driver ${driver.id} (trip ${tripId}) was lost and is not rebuilt yet; retried after the rebuild`);
  }

  /** The driver's identity, or null (logged) for a driver drivers does not know: nothing to move. */
  async #driver(driverId: string, em: EntityManager): Promise<DriverRef | null> {
    return (await this.#live.directory.byId(driverId, em)) ?? this.#unknownDriver(driverId);
  }

  #unknownDriver(driverId: string): null {
    this.#logger.error({ driverId }, 'a trip event names an unknown driver');
    return null;
  }

  /**
   * Riders following the trip's driver stop receiving positions (subscriptions.ts): once the record
   * saying so is committed, so a rider who resubscribes at once is refused.
   */
  #tripEnded(em: EntityManager, tripId: string) {
    this.#onCommit(em, () => {
      this.#live.pubsub.publish(this.#live.keys.tripEndedChannel(tripId), { tripId }).catch((error) => this.#logger.warn({ err: error, tripId }, 'could not announce the end of a trip'));
    });
  }

  #endCooldownAt(until: number) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const ending = this.#live.store
        .endCooldowns(Math.max(until, this.#live.now()))
        .catch((error) => this.#logger.error({ err: error }, 'ending a cooldown failed'))
        .finally(() => this.#endings.delete(ending));
      this.#endings.add(ending);
    }, Math.max(0, until - this.#live.now()));
    timer.unref();
    this.#timers.add(timer);
  }

  /**
   * After the consumer has stopped (no more commits): no more cooldown timers, and the live-store
   * moves and cooldown endings under way finish while the database is still open (embedded mode
   * mirrors them to Postgres; a write racing the close would fail or never settle).
   */
  async stop() {
    await this.#embeddedMoves; // may still set a cooldown timer
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#endings]);
  }
}

const partiesOf = (data: Pick<TripMatchedData, 'tripId' | 'riderId' | 'driverId' | 'driverUserId'>) => ({ tripId: data.tripId, riderId: data.riderId, driverId: data.driverId, driverUserId: data.driverUserId });
