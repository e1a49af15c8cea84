import { latLngSchema, z } from '../../platform/validation.ts';
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
