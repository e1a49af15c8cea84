/**
 * The price lists in force: fare rules per vehicle type and time-of-day windows, both versioned by
 * `effectiveFrom`. They change rarely and are read on every estimate, so each process keeps every row
 * (a few dozen) for a short while and picks what is in force at the request's instant in memory: a
 * rule dated in the future takes effect exactly at its date, cached or not.
 */
import type { Database, EntityManager } from '../../platform/db.ts';
import { localTime, parseClockTime, parseWeekdays, windowContains, type WeeklyWindow } from '../../platform/time-windows.ts';
import { FareRule, TimeOfDayMultiplier, type VehicleType } from './entities.ts';
import { NO_MULTIPLIER, parseHundredths, type FareSchedule, type Hundredths } from './fares.ts';

/** A fare rule as plain data: what a quote is priced with and what trips is told. */
export interface PriceList extends FareSchedule {
  id: string;
  cancellationFeeMinor: bigint;
  commissionBps: number;
  effectiveFrom: Date;
}

export interface TimeOfDayWindow extends WeeklyWindow {
  id: string;
  name: string;
  multiplier: Hundredths;
  effectiveFrom: Date;
}

export const priceListOf = (rule: FareRule): PriceList => ({
  id: rule.id,
  vehicleType: rule.vehicleType,
  currency: rule.currency,
  baseMinor: rule.baseMinor,
  perKmMinor: rule.perKmMinor,
  perMinMinor: rule.perMinMinor,
  minimumMinor: rule.minimumMinor,
  bookingFeeMinor: rule.bookingFeeMinor,
  cancellationFeeMinor: rule.cancellationFeeMinor,
  commissionBps: rule.commissionBps,
  effectiveFrom: rule.effectiveFrom,
});

export const timeOfDayWindowOf = (row: TimeOfDayMultiplier): TimeOfDayWindow => ({
  id: row.id,
  name: row.name,
  days: parseWeekdays(row.days),
  startMinute: parseClockTime(row.startsAt),
  endMinute: parseClockTime(row.endsAt),
  multiplier: parseHundredths(row.multiplier),
  effectiveFrom: row.effectiveFrom,
});

/** Per vehicle type, the rule with the latest effectiveFrom ≤ at. */
export function priceListsInForce(rules: readonly PriceList[], at: Date): Map<VehicleType, PriceList> {
  const byType = new Map<VehicleType, PriceList>();
  for (const rule of rules) {
    if (rule.effectiveFrom > at) continue;
    const held = byType.get(rule.vehicleType);
    if (!held || rule.effectiveFrom > held.effectiveFrom) byType.set(rule.vehicleType, rule);
  }
  return byType;
}

/** The rule in force for a vehicle type; the launch migration seeds one for every type. */
export function priceListFor(lists: Map<VehicleType, PriceList>, vehicleType: VehicleType): PriceList {
  const list = lists.get(vehicleType);
  if (!list) throw new Error(`No fare rule is in effect for ${vehicleType}`);
  return list;
}

/** Per window name, the version with the latest effectiveFrom ≤ at. */
export function windowsInForce(windows: readonly TimeOfDayWindow[], at: Date): TimeOfDayWindow[] {
  const byName = new Map<string, TimeOfDayWindow>();
  for (const window of windows) {
    if (window.effectiveFrom > at) continue;
    const held = byName.get(window.name);
    if (!held || window.effectiveFrom > held.effectiveFrom) byName.set(window.name, window);
  }
  return [...byName.values()];
}

/** The multiplier at `at` in the city's local time: the highest of the windows it falls in, else 1.00. */
export function timeOfDayMultiplier(windows: readonly TimeOfDayWindow[], at: Date, timeZone: string): Hundredths {
  const time = localTime(at, timeZone);
  let highest = NO_MULTIPLIER;
  for (const window of windowsInForce(windows, at)) {
    if (window.multiplier > highest && windowContains(window, time)) highest = window.multiplier;
  }
  return highest;
}

export interface PriceBook {
  rules: readonly PriceList[];
  windows: readonly TimeOfDayWindow[];
}

export async function loadPriceBook(em: EntityManager): Promise<PriceBook> {
  const [rules, windows] = await Promise.all([em.find(FareRule, {}), em.find(TimeOfDayMultiplier, {})]);
  return { rules: rules.map(priceListOf), windows: windows.map(timeOfDayWindowOf) };
}

/**
 * Every price list row, reloaded at most every `ttlMs` (one reload at a time). A change in the tables
 * reaches every replica within `ttlMs`; a failed reload fails the requests waiting for it, and the next
 * request tries again.
 */
export class PriceBookCache {
  readonly #db: Pick<Database, 'fork'>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #book: PriceBook | undefined;
  #loadedAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<PriceBook> | undefined;

  constructor(options: { db: Pick<Database, 'fork'>; ttlMs?: number; now?: () => number }) {
    this.#db = options.db;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  async get(): Promise<PriceBook> {
    const age = this.#now() - this.#loadedAt;
    // A clock that went backwards (an operator, a test) reloads too.
    if (this.#book && age >= 0 && age < this.#ttlMs) return this.#book;
    this.#loading ??= loadPriceBook(this.#db.fork())
      .then((book) => {
        this.#book = book;
        this.#loadedAt = this.#now();
        return book;
      })
      .finally(() => {
        this.#loading = undefined;
      });
    // Everyone waits for the one reload (a couple of milliseconds every ttl): a rule is in force
    // everywhere the moment the cache has seen it, never half the requests later.
    return this.#loading;
  }

  /** Forget the rows: the next estimate reads the tables (tests, and operators who just changed a price list). */
  invalidate() {
    this.#book = undefined;
    this.#loadedAt = Number.NEGATIVE_INFINITY;
  }
}
