import { defineEntity, p } from '@mikro-orm/core';

export const TRIP_STATUSES = ['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED'] as const;
export type TripStatus = (typeof TRIP_STATUSES)[number];

/** A rider has at most one trip in these states (a partial unique index enforces it). */
export const ACTIVE_TRIP_STATUSES = ['REQUESTED', 'MATCHING', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS'] as const satisfies readonly TripStatus[];

/** A driver holds at most one trip in these states (a partial unique index enforces it). */
export const ASSIGNED_TRIP_STATUSES = ['DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS'] as const satisfies readonly TripStatus[];

/** Still looking for a driver: the dispatcher works on these. */
export const DISPATCHING_STATUSES = ['REQUESTED', 'MATCHING'] as const satisfies readonly TripStatus[];

export const VEHICLE_TYPES = ['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'] as const;
export type VehicleType = (typeof VEHICLE_TYPES)[number];

/** PARTNER: booked by a partner organisation for its guest, paid from the partner's account (partnerId). */
export const PAYMENT_METHODS = ['CASH', 'WALLET', 'PARTNER'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export const CANCELLED_BY = ['RIDER', 'DRIVER', 'SYSTEM', 'PARTNER'] as const;
export type CancelledBy = (typeof CANCELLED_BY)[number];

/**
 * One ride, from request to completion or cancellation. The fare, points, vehicle type, commission and
 * cancellation fee are copied from the signed quote it was booked with; `quoteToken` is that quote's id
 * as pricing issued it. `driverUserId` is the assigned driver's accounts user id, recorded at assignment
 * so that ownership checks never need another subgraph's data.
 *
 * `version` grows by one with every transition, so subscribers can tell a newer state from one they
 * already sent. `dispatchRound` is the number of offer rounds started; `nextDispatchAt` is when the
 * dispatcher should look at the trip again (null once it has a driver or is over).
 */
const TripSchema = defineEntity({
  name: 'Trip',
  tableName: 'trips',
  properties: {
    id: p.uuid().primary(),
    riderId: p.uuid(),
    /** The partner organisation that booked the trip for its guest rider (PARTNER trips only). */
    partnerId: p.uuid().nullable(),
    /** The partner's note on its booking (for its own records). */
    partnerNote: p.string().nullable(),
    driverId: p.uuid().nullable(),
    driverUserId: p.uuid().nullable(),
    status: p.enum([...TRIP_STATUSES]),
    vehicleType: p.enum([...VEHICLE_TYPES]),
    paymentMethod: p.enum([...PAYMENT_METHODS]),
    pickupLat: p.float().columnType('double precision'),
    pickupLng: p.float().columnType('double precision'),
    dropoffLat: p.float().columnType('double precision'),
    dropoffLng: p.float().columnType('double precision'),
    /** The quoted fare in minor units of `currency`; also the final fare. */
    fareMinor: p.bigint(),
    currency: p.string(),
    distanceM: p.integer(),
    durationS: p.integer(),
    /** The platform's share of the fare in basis points, from the quote. */
    commissionBps: p.integer().default(0),
    /** What a late rider cancellation costs, from the quote (minor units). */
    quoteCancellationFeeMinor: p.bigint().default(0),
    /** The quote's own id (pricing's row); unique: a quote books one trip. */
    quoteId: p.uuid().unique(),
    /** The signed quote token, which is the `Quote` entity's id in the graph. */
    quoteToken: p.text(),
    /** Unique per rider: the same key from the same rider books the same trip. */
    idempotencyKey: p.string(),
    requestedAt: p.datetime().onCreate(() => new Date()),
    assignedAt: p.datetime().nullable(),
    arrivedAt: p.datetime().nullable(),
    startedAt: p.datetime().nullable(),
    completedAt: p.datetime().nullable(),
    cancelledAt: p.datetime().nullable(),
    cancelledBy: p.enum([...CANCELLED_BY]).nullable(),
    cancellationReason: p.string().nullable(),
    /** What the cancellation cost the rider (minor units); null unless cancelled. */
    cancellationFeeMinor: p.bigint().nullable(),
    dispatchRound: p.integer().default(0),
    nextDispatchAt: p.datetime().nullable(),
    /** When the current round ends (offers made in it expire then); a round that found nobody retries until it. */
    roundEndsAt: p.datetime().nullable(),
    version: p.integer().default(0),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Trip extends TripSchema.class {}
TripSchema.setClass(Trip);

export const OFFER_STATUSES = ['PENDING', 'ACCEPTED', 'DECLINED', 'EXPIRED', 'WITHDRAWN'] as const;
export type OfferStatus = (typeof OFFER_STATUSES)[number];

/**
 * A trip offered to one driver in one dispatch round. A driver is offered a trip at most once (unique
 * (trip, driver)): declined or expired offers are never repeated. PENDING until the driver answers or the
 * round ends; WITHDRAWN when the trip found another driver or was cancelled. `releasedAt` records that
 * drivers was told to take the driver out of OFFERED again (any answer but ACCEPTED needs it).
 */
const TripOfferSchema = defineEntity({
  name: 'TripOffer',
  tableName: 'trip_offers',
  properties: {
    id: p.uuid().primary(),
    tripId: p.uuid(),
    driverId: p.uuid(),
    driverUserId: p.uuid(),
    round: p.integer(),
    status: p.enum([...OFFER_STATUSES]),
    pickupDistanceM: p.integer(),
    score: p.float().columnType('double precision'),
    offeredAt: p.datetime(),
    expiresAt: p.datetime(),
    answeredAt: p.datetime().nullable(),
    releasedAt: p.datetime().nullable(),
  },
});
export class TripOffer extends TripOfferSchema.class {}
TripOfferSchema.setClass(TripOffer);

export const entities = [Trip, TripOffer];
