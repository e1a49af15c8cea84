import type { Database, EntityManager } from '../../platform/db.ts';
import type { DriverRef } from './availability.ts';
import { Driver } from './entities.ts';
import { isUuid } from '../../platform/validation.ts';

/**
 * Who is which driver: user id ↔ driver id ↔ vehicle type, the facts the live path needs on every
 * location update. They never change for a profile, so they are cached in process (bounded; any
 * replica may cache them): a location update costs no SQL once its driver is known. Only found
 * profiles are cached: a user who registers a minute later is not shadowed by an earlier miss.
 */
export class DriverDirectory {
  readonly #db: Database;
  readonly #maxEntries: number;
  readonly #byUserId = new Map<string, DriverRef>();
  readonly #byId = new Map<string, DriverRef>();

  constructor(db: Database, maxEntries = 200_000) {
    this.#db = db;
    this.#maxEntries = maxEntries;
  }

  async byUserId(userId: string): Promise<DriverRef | null> {
    if (!isUuid(userId)) return null;
    const cached = this.#byUserId.get(userId);
    if (cached) return cached;
    const driver = await this.#db.fork().findOne(Driver, { userId }, { fields: ['id', 'userId', 'vehicleType'] });
    return driver ? this.remember(driver) : null;
  }

  /** `em`: look up inside the caller's transaction (embedded PGlite has one connection, which a transaction holds). */
  async byId(driverId: string, em?: EntityManager): Promise<DriverRef | null> {
    return (await this.byIds([driverId], em)).get(driverId) ?? null;
  }

  /** `byId` for several drivers, the unknown ones looked up in one statement; absent from the map when not found. */
  async byIds(driverIds: readonly string[], em?: EntityManager): Promise<Map<string, DriverRef>> {
    const found = new Map<string, DriverRef>();
    const missing: string[] = [];
    for (const id of new Set(driverIds)) {
      if (!isUuid(id)) continue;
      const cached = this.#byId.get(id);
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const drivers = await (em ?? this.#db.fork()).find(Driver, { id: { $in: missing } }, { fields: ['id', 'userId', 'vehicleType'] });
      for (const driver of drivers) found.set(driver.id, this.remember(driver));
    }
    return found;
  }

  remember(driver: Pick<Driver, 'id' | 'userId' | 'vehicleType'>): DriverRef {
    const ref: DriverRef = Object.freeze({ id: driver.id, userId: driver.userId, vehicleType: driver.vehicleType });
    if (this.#byId.size >= this.#maxEntries) {
      // Maps iterate in insertion order: forget the oldest.
      const oldest = this.#byId.values().next().value!;
      this.#byId.delete(oldest.id);
      this.#byUserId.delete(oldest.userId);
    }
    this.#byId.set(ref.id, ref);
    this.#byUserId.set(ref.userId, ref);
    return ref;
  }
}
