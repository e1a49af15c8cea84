import { z } from 'zod';
import { badUserInput } from './errors.ts';

export { z };

/** Parses input at the edge of a subgraph; a failure is one BAD_USER_INPUT naming every bad field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = Object.fromEntries(result.error.issues.map((issue) => [issue.path.join('.') || 'input', issue.message]));
  throw badUserInput(`Invalid input: ${Object.entries(fields).map(([field, message]) => `${field} ${message}`).join('; ')}.`, fields);
}

/** Relay-style page size: 1 to 100, default 20. */
export const pageSizeSchema = z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100').default(20);

/**
 * A coordinate within a nanodegree of zero is zero: no place is that close to the equator or the prime
 * meridian without being on it, and a subnormal such as 6e-323 is refused by Postgres (float8 underflow)
 * wherever the value is stored or compared (the fuzz test found it through a quote's pickup ETA).
 */
const flushTiny = (value: number) => (Math.abs(value) < 1e-9 ? 0 : value);
export const latitudeSchema = z.number().min(-90, 'must be between -90 and 90').max(90, 'must be between -90 and 90').transform(flushTiny);
export const longitudeSchema = z.number().min(-180, 'must be between -180 and 180').max(180, 'must be between -180 and 180').transform(flushTiny);
export const latLngSchema = z.object({ lat: latitudeSchema, lng: longitudeSchema });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids reach SQL only when they are uuids: anything else matches nothing (never a database error). */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

export const idSchema = z.string().trim().min(1, 'must not be empty').max(512, 'is too long');
