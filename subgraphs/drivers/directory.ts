import type { Database, EntityManager } from '../../platform/db.ts';
import type { DriverRef } from './availability.ts';
import type { Driver } from './entities.ts';
import { driverRefs } from './records.ts';
import { LRUCache } from 'lru-cache';
import { isUuid } from '../../platform/validation.ts';

/**
 * Who is which driver: user id ↔ driver id ↔ vehicle type, the facts the live path needs on every
 * location update. They never change for a profile, so they are cached in process (bounded; any
 * replica may cache them): a location update costs no SQL once its driver is known. Only found
 * profiles are cached: a user who registers a minute later is not shadowed by an earlier miss.
 */
export class DriverDirectory {
  readonly #db: Database;
  readonly #byUserId = new Map<string, DriverRef>();
  /** Bounded; a driver it forgets leaves the by-user map with it (and is read again when next needed). */
  readonly #byId: LRUCache<string, DriverRef>;

  constructor(db: Database, maxEntries = 200_000) {
    this.#db = db;
    this.#byId = new LRUCache<string, DriverRef>({
      max: maxEntries,
      dispose: (ref, _id, reason) => {
        if (reason !== 'set' && this.#byUserId.get(ref.userId) === ref) this.#byUserId.delete(ref.userId);
      },
    });
  }

  async byUserId(userId: string): Promise<DriverRef | null> {
    if (!isUuid(userId)) return null;
    const cached = this.#byUserId.get(userId);
    if (cached) return cached;
    const [driver] = await driverRefs(this.#db.fork(), 'user_id', [userId]);
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
      for (const driver of await driverRefs(em ?? this.#db.fork(), 'id', missing)) found.set(driver.id, this.remember(driver));
    }
    return found;
  }

  remember(driver: Pick<Driver, 'id' | 'userId' | 'vehicleType'>): DriverRef {
    const ref: DriverRef = Object.freeze({ id: driver.id, userId: driver.userId, vehicleType: driver.vehicleType });
    this.#byId.set(ref.id, ref);
    this.#byUserId.set(ref.userId, ref);
    return ref;
  }
}
