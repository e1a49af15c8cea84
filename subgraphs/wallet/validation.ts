/** The wallet's edge: every argument of its GraphQL fields is parsed here before the service sees it. */
import { isCurrency, parseMinor } from '../../platform/money.ts';
import { isUuid, pageSizeSchema, parseInput, z } from '../../platform/validation.ts';
import { MAX_AMOUNT_MINOR } from './ledger/index.ts';

const uuid = z.string().refine(isUuid, 'must be a uuid');

/** The longest period `earnings` sums. */
export const MAX_EARNINGS_RANGE_MS = 366 * 24 * 3600 * 1000;

/** An exact positive amount of a supported currency, in minor units: "87.50" EGP → 8750n. */
export const moneyInputSchema = z
  .object({
    amount: z.string().max(40, 'must be a decimal amount such as 87.50'),
    currency: z.string().refine(isCurrency, 'must be a supported ISO 4217 currency code'),
  })
  .strict()
  .transform((money, ctx) => {
    const minor = parseMinor(money.amount, money.currency);
    if (minor === null) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: `must be a decimal amount with at most the currency's minor digits (such as 87.50 ${money.currency})` });
      return z.NEVER;
    }
    if (minor <= 0n) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'must be positive' });
      return z.NEVER;
    }
    if (minor > MAX_AMOUNT_MINOR) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'is too large' });
      return z.NEVER;
    }
    return { minor, currency: money.currency };
  });
export type MoneyAmount = z.output<typeof moneyInputSchema>;

/** Client keys are scoped by the wallet (`refund:<trip>:<key>`), so they never meet the ledger's own keys. */
const idempotencyKeySchema = z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, 'must be 8 to 128 characters of A-Z, a-z, 0-9, _ and -');

export const pageArgsSchema = z.object({ first: pageSizeSchema.nullish().transform((value) => value ?? 20), after: z.string().max(200, 'is not a cursor from this list').nullish() });

export const earningsArgsSchema = z
  .object({ from: z.date(), to: z.date() })
  .refine((range) => range.from < range.to, { message: 'must be after from', path: ['to'] })
  .refine((range) => range.to.getTime() - range.from.getTime() <= MAX_EARNINGS_RANGE_MS, { message: 'must be at most 366 days after from', path: ['to'] });

export const holdArgsSchema = z.object({ tripId: uuid, riderId: uuid, amount: moneyInputSchema });
/** The most fares one holdTripFares call holds (trips sends what its bookings asked for within a few ms). */
export const MAX_FARE_HOLDS = 200;
/** The list only: each hold is parsed on its own (holdArgsSchema), so one malformed hold refuses only itself. */
export const holdsArgsSchema = z.object({ holds: z.array(z.unknown()).max(MAX_FARE_HOLDS, `must be at most ${MAX_FARE_HOLDS} holds`) });
export const tripIdArgsSchema = z.object({ tripId: uuid });
export const driverUserIdArgsSchema = z.object({ driverUserId: uuid });

export const refundArgsSchema = z.object({
  tripId: uuid,
  amount: moneyInputSchema.nullish().transform((value) => value ?? null),
  reason: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  idempotencyKey: idempotencyKeySchema,
});

export { parseInput };

export const moneyMovementArgsSchema = z.object({ amount: moneyInputSchema, idempotencyKey: idempotencyKeySchema });
export const idArgsSchema = z.object({ id: uuid });
const reasonSchema = z.string().trim().min(1, 'must not be empty').max(300, 'must be at most 300 characters');
export const rejectWithdrawalArgsSchema = z.object({ id: uuid, reason: reasonSchema });
export const clearFraudFlagArgsSchema = z.object({ id: uuid, note: reasonSchema });
export const withdrawalsArgsSchema = pageArgsSchema.extend({ status: z.enum(['REQUESTED', 'PROCESSING', 'PAID', 'FAILED', 'REJECTED']).nullish().transform((value) => value ?? null) });
export const fraudFlagsArgsSchema = pageArgsSchema.extend({ open: z.boolean().nullish().transform((value) => value ?? null), userId: uuid.nullish().transform((value) => value ?? null) });
export const reconciliationArgsSchema = z.object({ date: z.string().max(10, 'must be a day such as 2026-12-04') });
