import { conflict } from '../../platform/errors.ts';
import type { VehicleType } from './entities.ts';

/** Where a driver is in their working day. */
export const AVAILABILITIES = ['OFFLINE', 'AVAILABLE', 'OFFERED', 'BUSY', 'COOLDOWN'] as const;
export type Availability = (typeof AVAILABILITIES)[number];

/**
 * The state machine, as data: from each state, the states a driver may move to.
 *   OFFLINE → AVAILABLE (goOnline) → OFFERED (trips offers a ride) → BUSY (accepted) → COOLDOWN (trip over) → AVAILABLE
 *   OFFERED → AVAILABLE: the offer was declined or expired (trips needs this way back);
 *   BUSY → AVAILABLE: the trip was cancelled before it ended (no cooldown: the driver drove nobody);
 *   AVAILABLE, OFFERED → OFFLINE: goOffline, or the sweeper after 30 s of silence.
 * BUSY and COOLDOWN drivers cannot go offline: a trip is in progress or being wrapped up.
 * Trips is the authority on who is matched, so TripMatched makes its driver BUSY from wherever they
 * are (trip-events.ts, MATCHED_FROM): that one reaction bypasses this table on purpose.
 */
export const TRANSITIONS: Readonly<Record<Availability, readonly Availability[]>> = Object.freeze({
  OFFLINE: ['AVAILABLE'],
  AVAILABLE: ['OFFERED', 'OFFLINE'],
  OFFERED: ['BUSY', 'AVAILABLE', 'OFFLINE'],
  BUSY: ['COOLDOWN', 'AVAILABLE'],
  COOLDOWN: ['AVAILABLE'],
});

export function canTransition(from: Availability, to: Availability): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states from which `to` may be reached: what a store checks atomically before it writes. */
export function sourcesOf(to: Availability): Availability[] {
  return AVAILABILITIES.filter((from) => canTransition(from, to));
}

/** What a store needs to know about a driver to index them: fixed for the life of a profile. */
export interface DriverRef {
  readonly id: string;
  readonly userId: string;
  readonly vehicleType: VehicleType;
}

export interface TransitionResult {
  /** False when the driver was in none of the allowed states: nothing was written. */
  readonly moved: boolean;
  /** The state before (the current one when nothing moved). */
  readonly previous: Availability;
}

/** What a trip-related transition also checks or writes, atomically with the state. */
export interface TransitionOptions {
  /**
   * The trip the move is about. Moving to OFFERED or BUSY records it as the driver's trip; any other
   * target clears the driver's trip.
   */
  readonly tripId?: string;
  /** Move only if the driver's recorded trip is `tripId` (a stale event or offer must not move a driver on to another trip). */
  readonly requireTrip?: boolean;
  /** Moving to COOLDOWN: when it ends (ms); the sweeper, or a timer, makes the driver AVAILABLE then. */
  readonly cooldownUntil?: number;
}

/**
 * Where availability lives: a Redis hash per driver when Redis is configured (every replica sees one
 * state), an in-process map in embedded mode. Unknown drivers are OFFLINE.
 */
export interface AvailabilityStore {
  availability(driverIds: readonly string[]): Promise<Map<string, Availability>>;
  /**
   * Atomically: if the driver is in one of `from` (and, with `requireTrip`, on `tripId`), move them to
   * `to` (going OFFLINE also leaves the live index). Becoming AVAILABLE from anything but OFFERED
   * restarts the driver's idle time (dispatch fairness: a declined offer is not a rest).
   */
  transition(driver: DriverRef, to: Availability, from: readonly Availability[], now: number, options?: TransitionOptions): Promise<TransitionResult>;
}

/**
 * Moves a driver to `to` if the state machine allows it from wherever they are now; otherwise CONFLICT,
 * naming the current state. The one way every caller (goOnline/goOffline here, trip offers next) changes
 * a driver's availability. `from` narrows the allowed sources (goOnline leaves only OFFLINE: a driver on
 * a trip must not become AVAILABLE by going "online" again). Returns the state the driver left.
 */
export async function transitionDriver(store: AvailabilityStore, driver: DriverRef, to: Availability, now: number, from: readonly Availability[] = sourcesOf(to)): Promise<Availability> {
  if (from.some((state) => !canTransition(state, to))) throw new Error(`not a transition of the state machine: ${from.join('|')} → ${to}`);
  const { moved, previous } = await store.transition(driver, to, from, now);
  if (!moved) throw conflict(`A driver who is ${previous} cannot become ${to}.`, { availability: previous });
  return previous;
}
