import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import { badUserInput, conflict, notFound } from '../../platform/errors.ts';
import { decodeCursor, toConnection, type Connection } from '../../platform/pagination.ts';
import { isUuid, pageSizeSchema, parseInput, z } from '../../platform/validation.ts';
import { Driver } from './entities.ts';
import { DRIVERS_USER_ID_UNIQUE, DRIVERS_VEHICLE_PLATE_UNIQUE } from './migrations.ts';
import { vehicleInputSchema } from './validation.ts';

const profileExists = () => conflict('You already have a driver profile.', { field: 'user' });
const plateTaken = () => conflict('This plate is already registered to another driver.', { field: 'vehicle.plate' });

/**
 * A signed-in DRIVER registers their vehicle; the profile starts PENDING. No read-then-write: the
 * unique constraints on user_id and vehicle_plate decide every duplicate, concurrent or not, and
 * the violated constraint's name says which CONFLICT it is.
 */
export async function registerDriver(em: EntityManager, principal: Principal, vehicleInput: unknown): Promise<Driver> {
  const vehicle = parseInput(vehicleInputSchema, vehicleInput);
  const driver = em.create(Driver, {
    id: randomUUID(),
    userId: principal.userId,
    vehicleType: vehicle.type,
    vehicleMake: vehicle.make,
    vehicleModel: vehicle.model,
    vehicleColor: vehicle.color,
    vehiclePlate: vehicle.plate,
    vehicleYear: vehicle.year,
    approvalStatus: 'PENDING',
  });
  try {
    await em.flush();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      const constraint = (error as { constraint?: string }).constraint;
      if (constraint === DRIVERS_USER_ID_UNIQUE) throw profileExists();
      if (constraint === DRIVERS_VEHICLE_PLATE_UNIQUE) throw plateTaken();
      throw conflict('This driver profile conflicts with an existing one.');
    }
    throw error;
  }
  return driver;
}

/**
 * Approves a PENDING profile. One conditional UPDATE: of two concurrent approvals exactly one wins,
 * the other gets CONFLICT, as does approving a profile that is not pending.
 */
export async function approveDriver(em: EntityManager, admin: Principal, driverId: string): Promise<Driver> {
  if (!isUuid(driverId)) throw notFound('Driver');
  const now = new Date();
  const updated = await em.nativeUpdate(Driver, { id: driverId, approvalStatus: 'PENDING' }, { approvalStatus: 'APPROVED', approvedAt: now, approvedBy: admin.userId, updatedAt: now });
  const driver = await em.findOne(Driver, { id: driverId }, { refresh: true });
  if (!driver) throw notFound('Driver');
  if (updated !== 1) throw conflict(`This driver is ${driver.approvalStatus}, not PENDING.`, { approvalStatus: driver.approvalStatus });
  return driver;
}

const pendingDriversArgsSchema = z.object({ first: pageSizeSchema, after: z.string().max(512, 'is too long').nullish() });

/** Drivers waiting for approval, oldest first, keyset-paginated on (createdAt, id). */
export async function pendingDrivers(em: EntityManager, args: { first?: number | null; after?: string | null }): Promise<Connection<Driver>> {
  // An explicit `first: null` means the default page size, like an omitted one.
  const { first, after } = parseInput(pendingDriversArgsSchema, { first: args.first ?? undefined, after: args.after });
  const cursor = decodeCursor(after);
  if (cursor && !isUuid(cursor.id)) throw badUserInput('The cursor is not valid.', { after: 'is not a cursor from this list' });
  const rows = await em.find(
    Driver,
    { approvalStatus: 'PENDING', ...(cursor ? { $or: [{ createdAt: { $gt: cursor.at } }, { createdAt: cursor.at, id: { $gt: cursor.id } }] } : {}) },
    { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], limit: first + 1 },
  );
  return toConnection(rows, first, (driver) => ({ at: driver.createdAt, id: driver.id }));
}
