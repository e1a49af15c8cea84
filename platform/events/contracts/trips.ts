/** The events trips publishes on its stream, each keyed by trip id. Enums spell the values of trips' SDL. */
import { z } from '../../validation.ts';
import { defineEventContract, type EventData } from '../contract.ts';
import { currency, minorUnits, point, utcTimestamp, uuid } from './fields.ts';

export const VEHICLE_TYPES = ['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'] as const;
/** PARTNER: booked by a partner organisation for a guest rider, paid from the partner's account (`partnerId`). */
export const PAYMENT_METHODS = ['CASH', 'WALLET', 'PARTNER'] as const;
/** PARTNER: the organisation that booked the trip for its guest cancelled it. */
export const CANCELLED_BY = ['RIDER', 'DRIVER', 'SYSTEM', 'PARTNER'] as const;

const vehicleType = z.enum(VEHICLE_TYPES);
const paymentMethod = z.enum(PAYMENT_METHODS);

/** The rider and the assigned driver (`driverUserId` is the driver's accounts user id). */
const parties = { tripId: uuid, riderId: uuid, driverId: uuid, driverUserId: uuid };

/**
 * The partner organisation that booked the trip for its guest (its accounts id, the PARTNER token's
 * `sub`); absent (or null) for a rider's own booking. Optional, so events written before partners
 * existed still parse.
 */
const partnerId = uuid.nullish();

/** A PARTNER trip names its partner, and only a PARTNER trip does. */
const partnerNamed = (data: { paymentMethod?: string | undefined; partnerId?: string | null | undefined }) =>
  data.paymentMethod === undefined ? true : (data.paymentMethod === 'PARTNER') === (data.partnerId !== undefined && data.partnerId !== null);
const partnerRule = { message: 'partnerId is given exactly when paymentMethod is PARTNER', path: ['partnerId'] };

/** A rider booked a quote. Pricing counts it as demand in the pickup's cell and keeps the quote for good. */
export const TripRequested = defineEventContract(
  'TripRequested',
  z.object({
    tripId: uuid,
    riderId: uuid,
    /** The booked quote's row id in pricing (the quote token's `quoteId` claim). */
    quoteId: uuid,
    /**
     * The signed quote token the trip was booked with: pricing rebuilds the quote from it when Redis lost
     * the quote before the booking was kept. Optional, so events written before it was added still parse.
     */
    quoteToken: z.string().min(1).max(4096).optional(),
    vehicleType,
    pickup: point,
    dropoff: point,
    fareMinor: minorUnits,
    currency,
    paymentMethod,
    requestedAt: utcTimestamp,
    partnerId,
  }).refine(partnerNamed, partnerRule),
);

/** A driver accepted: the trip is theirs. Written by the accept statement itself (SQL), from the assigned row. */
export const TripMatched = defineEventContract('TripMatched', z.object({ ...parties, vehicleType, matchedAt: utcTimestamp }));

/** The assigned driver is at the pickup, waiting for the rider (partners' webhooks tell it). */
export const TripDriverArrived = defineEventContract('TripDriverArrived', z.object({ ...parties, arrivedAt: utcTimestamp }));

export const TripStarted = defineEventContract('TripStarted', z.object({ ...parties, startedAt: utcTimestamp }));

/** The ride is over and paid for: the fare as quoted, the platform's commission on it (half-up to the minor unit). */
export const TripCompleted = defineEventContract(
  'TripCompleted',
  z.object({ ...parties, fareMinor: minorUnits, commissionMinor: minorUnits, currency, paymentMethod, completedAt: utcTimestamp, partnerId }).refine(partnerNamed, partnerRule),
);

/** Cancelled by the rider, the assigned driver, or the system (no driver found); a trip with no driver yet has none here. */
export const TripCancelled = defineEventContract(
  'TripCancelled',
  z
    .object({
      tripId: uuid,
      riderId: uuid,
      driverId: uuid.nullable(),
      driverUserId: uuid.nullable(),
      cancelledBy: z.enum(CANCELLED_BY),
      reason: z.string(),
      /** What the rider owes for cancelling late; "0" otherwise. */
      feeMinor: minorUnits,
      currency,
      cancelledAt: utcTimestamp,
      /** How the trip was to be paid; absent in events written before it was added. */
      paymentMethod: paymentMethod.optional(),
      partnerId,
    })
    .refine((data) => (data.driverId === null) === (data.driverUserId === null), { message: 'driverId and driverUserId are both set or both null', path: ['driverUserId'] })
    .refine(partnerNamed, partnerRule),
);

export type TripRequestedData = EventData<typeof TripRequested>;
export type TripMatchedData = EventData<typeof TripMatched>;
export type TripStartedData = EventData<typeof TripStarted>;
export type TripCompletedData = EventData<typeof TripCompleted>;
export type TripCancelledData = EventData<typeof TripCancelled>;
