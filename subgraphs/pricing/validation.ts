import { isUuid, latLngSchema, z } from '../../platform/validation.ts';
import { VEHICLE_TYPES } from './entities.ts';
import { haversineMeters } from '../../platform/routing.ts';

/** Straight-line bounds of a quotable trip. */
export const MIN_TRIP_DISTANCE_M = 100;
export const MAX_TRIP_DISTANCE_M = 100_000;

export const fareEstimatesArgsSchema = z
  .object({
    pickup: latLngSchema,
    dropoff: latLngSchema,
    /** Omitted or null: every type. Duplicates are dropped; the order asked for is kept. */
    vehicleTypes: z
      .array(z.enum(VEHICLE_TYPES))
      .min(1, 'must name at least one vehicle type (omit it for all)')
      .nullish()
      .transform((types) => (types ? [...new Set(types)] : [...VEHICLE_TYPES])),
  })
  .superRefine(({ pickup, dropoff }, ctx) => {
    const metres = haversineMeters(pickup, dropoff);
    if (metres < MIN_TRIP_DISTANCE_M) ctx.addIssue({ code: 'custom', path: ['dropoff'], message: `must be at least ${MIN_TRIP_DISTANCE_M} m from the pickup` });
    if (metres > MAX_TRIP_DISTANCE_M) ctx.addIssue({ code: 'custom', path: ['dropoff'], message: `must be at most ${MAX_TRIP_DISTANCE_M / 1000} km from the pickup` });
  });
export type FareEstimatesArgs = z.infer<typeof fareEstimatesArgsSchema>;

/** surgeMap covers at most this radius (about 430 res-8 cells). */
export const MAX_SURGE_MAP_RADIUS_M = 10_000;

export const surgeMapArgsSchema = z.object({
  center: latLngSchema,
  radiusM: z
    .number()
    .int('must be whole metres')
    .min(1, 'must be at least 1 m')
    .max(MAX_SURGE_MAP_RADIUS_M, `must be at most ${MAX_SURGE_MAP_RADIUS_M} m`),
});

const minorUnits = z.string().regex(/^(0|[1-9]\d{0,17})$/);
const signedMinorUnits = z.string().regex(/^(0|-?[1-9]\d{0,17})$/);
const multiplier = z.string().regex(/^\d{1,2}(\.\d{1,2})?$/);
const uuid = z.string().refine(isUuid);

/**
 * The claims of a quote token that carries the whole quote (every token issued since they were added):
 * the signature proves pricing wrote them; this guards against a release whose claims this one cannot read.
 */
export const rebuildableClaimsSchema = z.object({
  quoteId: uuid,
  riderId: uuid,
  vehicleType: z.enum(VEHICLE_TYPES),
  pickup: latLngSchema,
  dropoff: latLngSchema,
  fareMinor: minorUnits,
  currency: z.string().regex(/^[A-Z]{3}$/),
  distanceM: z.number().int().min(0),
  durationS: z.number().int().min(0),
  expiresAt: z.number().int(),
  commissionBps: z.number().int().min(0).max(10_000),
  cancellationFeeMinor: minorUnits,
  surgeMultiplier: multiplier,
  h3Cell: z.string().min(1).max(32),
  breakdown: z.object({
    baseMinor: minorUnits,
    distanceMinor: minorUnits,
    timeMinor: minorUnits,
    bookingFeeMinor: minorUnits,
    minimumTopUpMinor: minorUnits,
    timeOfDayMinor: minorUnits,
    surgeMinor: minorUnits,
    roundingMinor: signedMinorUnits,
  }),
  timeOfDayMultiplier: multiplier,
  fareRuleId: uuid.nullable(),
  issuedAt: z.number().int(),
});
