import { conflict } from '../../platform/errors.ts';
import type { VehicleType } from './entities.ts';

/** Where a driver is in their working day. */
export const AVAILABILITIES = ['OFFLINE', 'AVAILABLE', 'OFFERED', 'BUSY', 'COOLDOWN'] as const;
export type Availability = (typeof AVAILABILITIES)[number];

/**
 * The state machine, as data: from each state, the states a driver may move to.
 *   OFFLINE → AVAILABLE (goOnline) → OFFERED (trips offers a ride) → BUSY (accepted) → COOLDOWN (trip over) → AVAILABLE
 *   OFFERED → AVAILABLE: the offer was declined or expired (trips needs this way back);
 *   AVAILABLE, OFFERED → OFFLINE: goOffline, or the sweeper after 30 s of silence.
 * BUSY and COOLDOWN drivers cannot go offline: a trip is in progress or being wrapped up.
 */
export const TRANSITIONS: Readonly<Record<Availability, readonly Availability[]>> = Object.freeze({
  OFFLINE: ['AVAILABLE'],
  AVAILABLE: ['OFFERED', 'OFFLINE'],
  OFFERED: ['BUSY', 'AVAILABLE', 'OFFLINE'],
  BUSY: ['COOLDOWN'],
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

/**
 * Where availability lives: a Redis hash per driver when Redis is configured (every replica sees one
 * state), an in-process map in embedded mode. Unknown drivers are OFFLINE.
 */
export interface AvailabilityStore {
  availability(driverIds: readonly string[]): Promise<Map<string, Availability>>;
  /** Atomically: if the driver is in one of `from`, move them to `to` (going OFFLINE also leaves the live index). */
  transition(driver: DriverRef, to: Availability, from: readonly Availability[], now: number): Promise<TransitionResult>;
}

/**
 * Moves a driver to `to` if the state machine allows it from wherever they are now; otherwise CONFLICT,
 * naming the current state. The one way every caller (goOnline/goOffline here, trip offers next) changes
 * a driver's availability. Returns the state the driver left.
 */
export async function transitionDriver(store: AvailabilityStore, driver: DriverRef, to: Availability, now: number): Promise<Availability> {
  const { moved, previous } = await store.transition(driver, to, sourcesOf(to), now);
  if (!moved) throw conflict(`A driver who is ${previous} cannot become ${to}.`, { availability: previous });
  return previous;
}
