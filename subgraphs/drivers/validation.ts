import { latitudeSchema, latLngSchema, longitudeSchema, z } from '../../platform/validation.ts';
import { VEHICLE_TYPES } from './entities.ts';

/** Upper case, trimmed, runs of whitespace collapsed to one space: "cai  1000 " → "CAI 1000". */
export function normalizePlate(plate: string): string {
  return plate.trim().replace(/\s+/g, ' ').toUpperCase();
}

const label = z.string().trim().min(1, 'must not be empty').max(40, 'must be at most 40 characters');

/** The oldest and newest model years accepted; "now" is read per call so a long-running process rolls over. */
export const OLDEST_MODEL_YEAR = 1990;
const newestModelYear = () => new Date().getUTCFullYear() + 1;

export const vehicleInputSchema = z.object({
  type: z.enum(VEHICLE_TYPES),
  make: label,
  model: label,
  color: label,
  plate: z
    .string()
    .max(64, 'must be at most 15 characters')
    .transform(normalizePlate)
    .pipe(
      z
        .string()
        .min(2, 'must be at least 2 characters')
        .max(15, 'must be at most 15 characters')
        .regex(/^[A-Z0-9 -]+$/, 'may contain only letters A-Z, digits, spaces and hyphens'),
    ),
  year: z
    .number()
    .int('must be a whole year')
    .min(OLDEST_MODEL_YEAR, `must be ${OLDEST_MODEL_YEAR} or later`)
    .refine((year) => year <= newestModelYear(), { message: 'must not be later than next year' }),
});
export type VehicleInput = z.infer<typeof vehicleInputSchema>;

const optional = <T extends z.ZodType<number>>(schema: T) => schema.nullish().transform((value) => value ?? null);

/**
 * How old a fix may be: a backfill after a day offline is still history; a point dated weeks or years
 * back is a broken device clock or a forged request (such points once reached the history writer and
 * failed every batch behind them). Also well inside the history's 90-day retention.
 */
export const MAX_FIX_AGE_MS = 7 * 86_400_000;
/** A GPS accuracy radius beyond this says nothing about where the device is (the live index keeps ≤ 50 m). */
export const MAX_ACCURACY_M = 100_000;

/**
 * The schemas of location input, built once per clock (zod compiles a schema on first use: building
 * one per request would cost more than the rest of the request). `now` is read at every parse:
 * recordedAt may run `futureSkewMs` ahead of the server's clock.
 */
export function locationSchemas(now: () => number, futureSkewMs: number) {
  const fix = z.object({
    lat: latitudeSchema,
    lng: longitudeSchema,
    heading: optional(z.number().min(0, 'must be between 0 and 360').max(360, 'must be between 0 and 360')),
    speedKmh: optional(z.number().min(0, 'must be between 0 and 300').max(300, 'must be between 0 and 300')),
    accuracyM: optional(z.number().min(0, 'must be 0 or more').max(MAX_ACCURACY_M, `must be at most ${MAX_ACCURACY_M}`)),
    recordedAt: z
      .date('must be a date')
      .refine((date) => date.getTime() <= now() + futureSkewMs, { message: 'must not be in the future' })
      .refine((date) => date.getTime() >= now() - MAX_FIX_AGE_MS, { message: `must be within the last ${MAX_FIX_AGE_MS / 86_400_000} days` })
      .transform((date) => date.getTime()),
  });
  /** A backfill batch: 1 to 100 fixes, oldest first. */
  const batch = z.object({
    batch: z
      .array(fix)
      .min(1, 'must hold at least one point')
      .max(MAX_BATCH_POINTS, `must hold at most ${MAX_BATCH_POINTS} points`)
      .superRefine((points, ctx) => {
        for (let i = 1; i < points.length; i++) {
          if (points[i].recordedAt < points[i - 1].recordedAt) {
            ctx.addIssue({ code: 'custom', path: [i, 'recordedAt'], message: 'must not be earlier than the point before it (oldest first)' });
            return;
          }
        }
      }),
  });
  return { fix, batch };
}
export type LocationSchemas = ReturnType<typeof locationSchemas>;

export const MAX_BATCH_POINTS = 100;

export const MAX_NEARBY_RADIUS_M = 10_000;
export const MAX_NEARBY_FIRST = 50;

export const nearbyArgsSchema = z.object({
  near: latLngSchema,
  radiusM: z.number().int('must be a whole number of meters').min(1, `must be between 1 and ${MAX_NEARBY_RADIUS_M}`).max(MAX_NEARBY_RADIUS_M, `must be between 1 and ${MAX_NEARBY_RADIUS_M}`),
  vehicleType: z.enum(VEHICLE_TYPES).nullish().transform((value) => value ?? null),
  first: z.number().int('must be a whole number').min(1, `must be between 1 and ${MAX_NEARBY_FIRST}`).max(MAX_NEARBY_FIRST, `must be between 1 and ${MAX_NEARBY_FIRST}`),
});
