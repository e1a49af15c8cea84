import { defineEntity, p } from '@mikro-orm/core';
import { VEHICLE_TYPES } from '../../platform/demo-city.ts';

export const APPROVAL_STATUSES = ['PENDING', 'APPROVED', 'SUSPENDED'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];
export { VEHICLE_TYPES };
export type VehicleType = (typeof VEHICLE_TYPES)[number];

/**
 * A driver profile: one per accounts User (`userId`, never joined: accounts owns users), with the
 * driver's one vehicle, the admin approval, and the last known position.
 * Live state (availability, current position) is not here: it lives in the live store (live/store.ts),
 * and the location history in the partitioned `driver_location_history` table (live/history.ts).
 */
const DriverSchema = defineEntity({
  name: 'Driver',
  tableName: 'drivers',
  properties: {
    id: p.uuid().primary(),
    /** The accounts User id; unique: one profile per user. */
    userId: p.uuid().unique(),
    vehicleType: p.enum([...VEHICLE_TYPES]),
    vehicleMake: p.string(),
    vehicleModel: p.string(),
    vehicleColor: p.string(),
    /** Normalized (upper case, single spaces); unique. */
    vehiclePlate: p.string().unique(),
    vehicleYear: p.integer(),
    approvalStatus: p.enum([...APPROVAL_STATUSES]),
    approvedAt: p.datetime().nullable(),
    /** The admin (accounts User id) who approved the profile. */
    approvedBy: p.uuid().nullable(),
    /** numeric(3,2), read as an exact decimal string; null before the first rating. */
    rating: p.decimal('string').precision(3).scale(2).nullable(),
    lastLat: p.float().columnType('double precision').nullable(),
    lastLng: p.float().columnType('double precision').nullable(),
    positionAt: p.datetime().nullable(),
    /** When a fix first implied an implausible speed (written in the background from the live store's flag). */
    suspectedSpoofingAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Driver extends DriverSchema.class {}
DriverSchema.setClass(Driver);

export const entities = [Driver];
