import { isUuid, latitudeSchema, longitudeSchema, pageSizeSchema, z } from '../../platform/validation.ts';
import { PAYMENT_METHODS, VEHICLE_TYPES } from './entities.ts';

export const idempotencyKeySchema = z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, 'must be 8 to 128 characters of A-Z, a-z, 0-9, _ and -');

export const requestTripSchema = z.object({
  input: z.object({
    quoteId: z.string().min(1, 'must not be empty').max(4096, 'is too long'),
    // PARTNER is booked by partners only (bookRideForGuest), never by a rider.
    paymentMethod: z.enum(PAYMENT_METHODS.filter((method) => method !== 'PARTNER') as ['CASH', 'WALLET']),
  }),
  idempotencyKey: idempotencyKeySchema,
});
export type RequestTripArgs = z.infer<typeof requestTripSchema>;

/** Relay page arguments; an explicit `first: null` means the default page size. */
export const pageArgsSchema = z.object({
  first: z.preprocess((value) => value ?? undefined, pageSizeSchema),
  after: z.string().max(512, 'is too long').nullish(),
});
export type PageArgs = z.infer<typeof pageArgsSchema>;

const tripIdSchema = z.string().refine(isUuid, 'must be a trip id');

export const tripIdArgsSchema = z.object({ tripId: tripIdSchema });

export const cancelTripSchema = z.object({
  tripId: tripIdSchema,
  reason: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

const pointSchema = z.object({ lat: latitudeSchema, lng: longitudeSchema });

/**
 * The claims of a quote token. The signature already proves pricing issued it; this guards against a
 * pricing release whose claims this trips release does not understand.
 */
export const quoteClaimsSchema = z.object({
  quoteId: z.string().refine(isUuid, 'must be a uuid'),
  riderId: z.string().min(1),
  vehicleType: z.enum(VEHICLE_TYPES),
  pickup: pointSchema,
  dropoff: pointSchema,
  fareMinor: z.string().regex(/^[1-9]\d{0,15}$/, 'must be a positive integer'),
  currency: z.string().regex(/^[A-Z]{3}$/),
  distanceM: z.number().int().min(0),
  durationS: z.number().int().min(0),
  expiresAt: z.number().int(),
  /** The platform's share in basis points; trips computes TripCompleted.commissionMinor from it. */
  commissionBps: z.number().int().min(0).max(10_000),
  /** What a rider cancelling late pays (minor units). */
  cancellationFeeMinor: z.string().regex(/^(0|[1-9]\d{0,15})$/, 'must be a non-negative integer'),
  surgeMultiplier: z.string().regex(/^\d{1,2}(\.\d{1,2})?$/),
  h3Cell: z.string().min(1).max(32),
});
