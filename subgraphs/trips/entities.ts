import { defineEntity, p } from '@mikro-orm/core';

export const TRIP_STATUSES = ['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED'] as const;
export type TripStatus = (typeof TRIP_STATUSES)[number];

/** A rider has at most one trip in these states (a partial unique index enforces it). */
export const ACTIVE_TRIP_STATUSES = ['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS'] as const satisfies readonly TripStatus[];

export const VEHICLE_TYPES = ['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'] as const;
export type VehicleType = (typeof VEHICLE_TYPES)[number];

export const PAYMENT_METHODS = ['CASH', 'WALLET'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/**
 * One ride, from request to completion or cancellation. The fare, points and vehicle type are copied
 * from the signed quote it was booked with; `quoteToken` is that quote's id as pricing issued it.
 * `driverUserId` is the assigned driver's accounts user id, recorded at assignment so that ownership
 * checks never need another subgraph's data.
 */
const TripSchema = defineEntity({
  name: 'Trip',
  tableName: 'trips',
  properties: {
    id: p.uuid().primary(),
    riderId: p.uuid(),
    driverId: p.uuid().nullable(),
    driverUserId: p.uuid().nullable(),
    status: p.enum([...TRIP_STATUSES]),
    vehicleType: p.enum([...VEHICLE_TYPES]),
    paymentMethod: p.enum([...PAYMENT_METHODS]),
    pickupLat: p.float().columnType('double precision'),
    pickupLng: p.float().columnType('double precision'),
    dropoffLat: p.float().columnType('double precision'),
    dropoffLng: p.float().columnType('double precision'),
    /** The quoted fare in minor units of `currency`. */
    fareMinor: p.bigint(),
    currency: p.string(),
    distanceM: p.integer(),
    durationS: p.integer(),
    /** The quote's own id (pricing's row); unique: a quote books one trip. */
    quoteId: p.uuid().unique(),
    /** The signed quote token, which is the `Quote` entity's id in the graph. */
    quoteToken: p.text(),
    /** Unique per rider: the same key from the same rider books the same trip. */
    idempotencyKey: p.string(),
    requestedAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Trip extends TripSchema.class {}
TripSchema.setClass(Trip);

export const entities = [Trip];
