import { randomUUID } from 'node:crypto';
import { Batcher } from '../../../platform/batcher.ts';
import type { ServiceConfig } from '../../../platform/config.ts';
import { arrayLiteral, type Database, type EntityManager } from '../../../platform/db.ts';
import { runInBackground } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';
import { DISPATCHING_STATUSES, type Trip, type TripStatus, type VehicleType } from '../entities.ts';
import type { TripLifecycle } from '../lifecycle.ts';
import { ENDED_OFFER_COLUMNS, type EndedOfferRow, type TripNotifier } from '../live.ts';
import { inList, OFFERS, query, TRIPS, type Row } from '../rows.ts';
import type { DriverDirectory } from './directory.ts';
import type { DriverReleases } from './releases.ts';
import { eligibleVehicleTypes, rankCandidates, type RankedCandidate } from './scoring.ts';

/** A trip nobody kicked (its replica died between commit and kick) is claimed by any loop this long after booking. */
export const UNKICKED_AFTER_MS = 1_000;
/** How long a claimed round is the claimer's alone; past it (the claimer died mid-round) any loop takes it over. */
const LEASE_MS = 10_000;
/** Trips claimed per loop tick. */
const CLAIM_BATCH = 20;
/** Candidates asked for per offer slot: trips racing for the same nearby drivers still fill their rounds. */
const CANDIDATES_PER_SLOT = 4;
/** The most candidates drivers answers with in one call. */
const MAX_CANDIDATES = 50;
/** Looks for free candidates in one attempt when others took every one found before this trip could reserve. */
const LOOKS_PER_ATTEMPT = 3;
/** A round that found nobody free to offer looks again this often until it ends (drivers free up within a round). */
const EMPTY_ROUND_RETRY_MS = 250;
/** Unreleased answers older than this are the sweep's (younger ones are still being released inline). */
const SWEEP_AFTER_MS = 5_000;

export const NO_DRIVERS_FOUND = 'NO_DRIVERS_FOUND';

export interface DispatcherOptions {
  db: Database;
  directory: DriverDirectory;
  lifecycle: TripLifecycle;
  notifier: TripNotifier;
  releases: DriverReleases;
  config: ServiceConfig['dispatch'];
  logger: Logger;
  now?: () => Date;
}

/** A round's question "how many other trips are dispatching in this box?" (`#competing`). */
interface CompetitionProbe {
  tripId: string;
  latMin: number;
  latMax: number;
  lngMin: number;
  lngMax: number;
}

type ClaimedTrip = Row & {
  id: string;
  status: TripStatus;
  dispatch_round: number;
  round_ends_at: Date | string | null;
  vehicle_type: VehicleType;
  pickup_lat: number;
  pickup_lng: number;
};

/**
 * Offers trips to drivers in rounds: round r (1-based) offers the trip to the best `offerCount` drivers
 * within `radiiM[r-1]` that were never offered it, all at once, for `offerTimeoutMs`; the first to accept
 * wins (TripLifecycle.acceptOffer). When a round ends unanswered (or every driver declined) the next,
 * wider one starts; after the last, the trip is cancelled with NO_DRIVERS_FOUND.
 *
 * Two rules for bursts (many riders booking near the same drivers at once): a trip offers to its fair
 * share of the free candidates — fewer than `offerCount` when other trips nearby are dispatching too, at
 * least one — so every rider gets an offer straight away instead of the first few taking every driver;
 * and a round that found nobody free keeps looking every EMPTY_ROUND_RETRY_MS until its deadline
 * (drivers come free as other trips are accepted) before the radius widens.
 *
 * Work is claimed from the database, never held in memory alone: a round is claimed by moving the trip's
 * `next_dispatch_at` a lease ahead, with `for update skip locked` so replicas never claim the same trip,
 * and the round's outcome is written only if the trip is still where the claim found it (same status and
 * round). The replica that booked a trip kicks its first round right after commit; the replica that ran
 * a round times its end; every replica's loop picks up whatever those missed (restarts, crashes).
 */
export class Dispatcher {
  readonly #options: DispatcherOptions;
  readonly #now: () => Date;
  /** For the rounds' statements, each on its own outside any transaction: one fork serves them all (nothing is ever loaded into it). */
  readonly #statements: EntityManager;
  /**
   * The counts of rounds looking at the same moment, in one statement: in a burst every booking's first
   * round asks within milliseconds of the others, and a statement each was a fifth of trips' statements
   * (and their socket writes) per booking in bench:dispatch.
   */
  readonly #competition = new Batcher<CompetitionProbe, number>((probes) => this.#countCompeting(probes), { maxBatchSize: 100, maxInFlight: 1, onBatchFailure: 'fail-all' });
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #loop: NodeJS.Timeout | undefined;
  #ticking = false;
  #stopped = false;

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#statements = options.db.fork();
  }

  /** Polls a few times per offer timeout (at most once a second) for due work. */
  start(): void {
    const pollMs = Math.max(50, Math.min(1_000, Math.floor(this.#options.config.offerTimeoutMs / 4)));
    this.#loop = setInterval(() => this.#track(() => this.tick()), pollMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#loop);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#competition.close();
  }

  /** Runs the trip's next round now if it is due by `dueBy` and nobody else holds it. */
  kick(tripId: string, dueBy: Date = this.#now()): void {
    if (this.#stopped) return;
    this.#track(() => this.#claimAndRun({ tripId, dueBy }));
  }

  /**
   * Runs a trip's first round right after its booking committed, without claiming it first (a round
   * trip saved per booking): no loop takes a trip before its `next_dispatch_at`, UNKICKED_AFTER_MS after
   * booking. Should the round outlast that and a loop run it too, the round's conditional write lets one
   * of the two through; the other releases the drivers it reserved.
   */
  kickBooked(trip: Pick<Trip, 'id' | 'vehicleType' | 'pickupLat' | 'pickupLng'>): void {
    if (this.#stopped) return;
    const booked: ClaimedTrip = {
      id: trip.id,
      status: 'REQUESTED',
      dispatch_round: 0,
      round_ends_at: null,
      vehicle_type: trip.vehicleType,
      pickup_lat: trip.pickupLat,
      pickup_lng: trip.pickupLng,
    };
    this.#track(() => this.#runRound(booked));
  }

  /** One pass of the loop: claim due rounds and run them; release drivers whose release failed earlier. */
  async tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    try {
      await this.#claimAndRun({ dueBy: this.#now() });
      await this.#options.releases.sweep(new Date(this.#now().getTime() - SWEEP_AFTER_MS));
    } finally {
      this.#ticking = false;
    }
  }

  async #claimAndRun(target: { tripId?: string; dueBy: Date }): Promise<void> {
    const claimed = await this.#claim(this.#statements, target);
    await Promise.all(claimed.map((trip) => this.#runRound(trip)));
  }

  #claim(em: EntityManager, { tripId, dueBy }: { tripId?: string; dueBy: Date }): Promise<ClaimedTrip[]> {
    const lease = new Date(this.#now().getTime() + LEASE_MS);
    return query<ClaimedTrip>(
      em,
      `update ${TRIPS} t set "next_dispatch_at" = ? from (
         select "id" from ${TRIPS} where "status" in ${inList(DISPATCHING_STATUSES)} and "next_dispatch_at" <= ? ${tripId ? 'and "id" = ?' : ''}
         order by "next_dispatch_at" limit ${CLAIM_BATCH} for update skip locked
       ) due where t."id" = due."id" returning t.*`,
      [lease, dueBy, ...(tripId ? [tripId] : [])],
    );
  }

  async #runRound(trip: ClaimedTrip): Promise<void> {
    const { config, logger } = this.#options;
    try {
      if (trip.dispatch_round > 0 && trip.round_ends_at && new Date(trip.round_ends_at) > this.#now() && !(await this.#offeredInRound(trip))) {
        await this.#offer(trip, config.radiiM[trip.dispatch_round - 1]!, { retry: true });
        return;
      }
      // A trip's first round has nothing to expire (the common, latency-critical case: skip the statement).
      if (trip.dispatch_round > 0) await this.#expireRound(trip);
      if (trip.dispatch_round >= config.radiiM.length) {
        await this.#options.lifecycle.cancelUnmatched(this.#options.db.fork(), trip.id, trip.dispatch_round, NO_DRIVERS_FOUND);
        return;
      }
      await this.#offer(trip, config.radiiM[trip.dispatch_round]!);
    } catch (error) {
      // The lease runs out and a loop (maybe this one) tries the round again.
      logger.warn({ err: error, tripId: trip.id, round: trip.dispatch_round + 1 }, 'dispatch round failed; it will be retried');
    }
  }

  /**
   * The round that just ended: its unanswered offers expire, their drivers hear so on their offer
   * streams, and go back to AVAILABLE.
   */
  async #expireRound(trip: ClaimedTrip): Promise<void> {
    const expired = await query<EndedOfferRow>(
      this.#statements,
      `update ${OFFERS} set "status" = 'EXPIRED', "answered_at" = ? where "trip_id" = ? and "status" = 'PENDING' returning ${ENDED_OFFER_COLUMNS}`,
      [this.#now(), trip.id],
    );
    await this.#options.notifier.offersEnded(trip, expired, 'EXPIRED');
    await this.#options.releases.release(trip.id, expired.map((offer) => offer.driver_id));
  }

  /** Whether the trip's current round made any offer (a round that did ends by answers or its deadline). */
  async #offeredInRound(trip: ClaimedTrip): Promise<boolean> {
    const [row] = await query(this.#statements, `select 1 from ${OFFERS} where "trip_id" = ? and "round" = ? limit 1`, [trip.id, trip.dispatch_round]);
    return row !== undefined;
  }

  /** Other trips dispatching within `radiusM` of this one's pickup (a bounding box: a cheap, fair estimate). */
  #competing(trip: ClaimedTrip, radiusM: number): Promise<number> {
    const dLat = radiusM / 111_320;
    const dLng = radiusM / (111_320 * Math.cos((trip.pickup_lat * Math.PI) / 180));
    return this.#competition.submit({ tripId: trip.id, latMin: trip.pickup_lat - dLat, latMax: trip.pickup_lat + dLat, lngMin: trip.pickup_lng - dLng, lngMax: trip.pickup_lng + dLng });
  }

  /** `#competing` for every probe, in the probes' order, in one statement. */
  async #countCompeting(probes: readonly CompetitionProbe[]): Promise<number[]> {
    const rows = await query<{ position: number | string; count: number | string }>(
      this.#statements,
      `select p."position", (
         select count(*) from ${TRIPS} t where t."status" in ${inList(DISPATCHING_STATUSES)} and t."id" <> p."trip_id"
           and t."pickup_lat" between p."lat_min" and p."lat_max" and t."pickup_lng" between p."lng_min" and p."lng_max"
       ) as "count"
       from unnest(?::uuid[], ?::float8[], ?::float8[], ?::float8[], ?::float8[]) with ordinality as p("trip_id", "lat_min", "lat_max", "lng_min", "lng_max", "position")`,
      [
        arrayLiteral(probes.map((probe) => probe.tripId)),
        arrayLiteral(probes.map((probe) => probe.latMin)),
        arrayLiteral(probes.map((probe) => probe.latMax)),
        arrayLiteral(probes.map((probe) => probe.lngMin)),
        arrayLiteral(probes.map((probe) => probe.lngMax)),
      ],
    );
    const counts = new Array<number>(probes.length).fill(0);
    for (const row of rows) counts[Number(row.position) - 1] = Number(row.count);
    return counts;
  }

  async #offer(trip: ClaimedTrip, radiusM: number, options: { retry?: boolean } = {}): Promise<void> {
    const { directory, config } = this.#options;
    const em = this.#statements;
    // A retry looks again within the round it started; otherwise this is the next round.
    const round = options.retry ? trip.dispatch_round : trip.dispatch_round + 1;
    const offered = new Set(
      trip.dispatch_round === 0 ? [] : (await query<{ driver_id: string }>(em, `select "driver_id" from ${OFFERS} where "trip_id" = ?`, [trip.id])).map((row) => row.driver_id),
    );
    let chosen: RankedCandidate[] = [];
    let competing: number | undefined;
    // Candidates are the drivers free when asked. Should other trips take every one of them before this
    // trip reserves, a fresh look finds who is free now, before the round waits to look again.
    for (let look = 1; look <= LOOKS_PER_ATTEMPT && chosen.length === 0; look++) {
      const candidates = await directory.candidates({
        near: { lat: trip.pickup_lat, lng: trip.pickup_lng },
        radiusM,
        vehicleTypes: eligibleVehicleTypes(trip.vehicle_type),
        first: Math.min(MAX_CANDIDATES, config.offerCount * CANDIDATES_PER_SLOT + offered.size),
      });
      const ranked = rankCandidates(candidates.filter((candidate) => !offered.has(candidate.driverId)), trip.vehicle_type, radiusM);
      if (ranked.length === 0) break;
      competing ??= await this.#competing(trip, radiusM);
      const share = Math.max(1, Math.floor(ranked.length / (1 + competing)));
      chosen = await this.#reserve(trip.id, ranked, Math.min(config.offerCount, share));
    }

    const now = this.#now();
    const expiresAt = new Date(now.getTime() + config.offerTimeoutMs);
    // Offers made: the round ends when they expire. Nobody free: look again shortly, within the round.
    const roundEndsAt = chosen.length > 0 ? expiresAt : options.retry && trip.round_ends_at ? new Date(trip.round_ends_at) : expiresAt;
    const nextDispatchAt = chosen.length > 0 ? expiresAt : new Date(Math.min(now.getTime() + EMPTY_ROUND_RETRY_MS, roundEndsAt.getTime()));
    const offers = chosen.map((candidate) => ({ id: randomUUID(), candidate }));
    // The round's move and its offers in one statement (one round trip, its own transaction): the offers
    // are written only if the trip is still where the claim found it.
    const insertOffers =
      offers.length === 0
        ? ''
        : `, "offers" as (
             insert into ${OFFERS} ("id", "trip_id", "driver_id", "driver_user_id", "round", "status", "pickup_distance_m", "score", "offered_at", "expires_at")
             select o."id", m."id", o."driver_id", o."driver_user_id", m."dispatch_round", 'PENDING', o."pickup_distance_m", o."score", ?::timestamptz, ?::timestamptz
             from "moved" m cross join (values ${offers.map(() => '(?::uuid, ?::uuid, ?::uuid, ?::integer, ?::double precision)').join(', ')})
               as o("id", "driver_id", "driver_user_id", "pickup_distance_m", "score")
           )`;
    const [row] = await query(
      em,
      `with "moved" as (
         update ${TRIPS} set "status" = 'MATCHING', "dispatch_round" = ?, "next_dispatch_at" = ?, "round_ends_at" = ?, "updated_at" = ?,
           "version" = "version" + ${trip.status === 'MATCHING' ? 0 : 1}
         where "id" = ? and "status" = ? and "dispatch_round" = ? returning *
       )${insertOffers}
       select * from "moved"`,
      [
        round, nextDispatchAt, roundEndsAt, now, trip.id, trip.status, trip.dispatch_round,
        ...(offers.length === 0 ? [] : [now, expiresAt, ...offers.flatMap(({ id, candidate }) => [id, candidate.driverId, candidate.userId, Math.round(candidate.distanceM), candidate.score])]),
      ],
    );
    if (!row) {
      // Accepted, cancelled or taken over meanwhile: these drivers were reserved for nothing.
      await directory.release(trip.id, chosen.map((candidate) => candidate.driverId)).catch((error) => this.#options.logger.warn({ err: error, tripId: trip.id }, 'could not release reserved drivers'));
      return;
    }
    await this.#options.notifier.offered(
      row,
      offers.map(({ id, candidate }) => ({ id, driverUserId: candidate.userId, round, expiresAt, pickupDistanceM: Math.round(candidate.distanceM) })),
    );
    if (trip.status !== 'MATCHING') await this.#options.notifier.tripChanged(row);
    this.#timeRound(trip.id, nextDispatchAt);
  }

  /** Reserves the best `wanted` candidates still free, going down the ranking past those others took (one call). */
  async #reserve(tripId: string, ranked: RankedCandidate[], wanted: number): Promise<RankedCandidate[]> {
    const reserved = new Set(await this.#options.directory.reserve(tripId, ranked.map((candidate) => candidate.driverId), wanted));
    return ranked.filter((candidate) => reserved.has(candidate.driverId));
  }

  /** Starts the next round as soon as this one times out, on this replica (the loop covers for it otherwise). */
  #timeRound(tripId: string, expiresAt: Date): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.kick(tripId, expiresAt);
    }, Math.max(0, expiresAt.getTime() - this.#now().getTime()));
    this.#timers.add(timer);
  }

  /** Dispatch is the process's own work, not the request's (per-request statement counts leave it out). */
  #track(work: () => Promise<void>): void {
    const tracked = runInBackground(work).catch((error) => this.#options.logger.warn({ err: error }, 'dispatch failed; the loop will retry')).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }
}
