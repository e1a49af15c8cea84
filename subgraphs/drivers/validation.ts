import { z } from '../../platform/validation.ts';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are opaque to clients; anything that is not one of ours simply matches nothing. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);
