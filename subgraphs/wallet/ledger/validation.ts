/** The ledger's edge: every call's input is parsed here before anything reaches a batch or SQL. */
import { isCurrency } from '../../../platform/money.ts';
import { isUuid, pageSizeSchema, z } from '../../../platform/validation.ts';
import { ACCOUNT_KINDS, OWNED_ACCOUNT_KINDS } from './accounts.ts';

/** The default currency of every account and transfer. */
export const LEDGER_CURRENCY = 'EGP';

/** The largest amount one call moves, in minor units (10,000,000,000.00 EGP): anything larger is a mistake. */
export const MAX_AMOUNT_MINOR = 10n ** 12n;

/** Longest idempotency key; callers scope theirs (`deposit:<user>:<client key>`), so keys of two callers never meet. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/** Longest hold: a pending transfer's timeout. */
export const MAX_HOLD_TIMEOUT_MS = 30 * 24 * 3600 * 1000;

const uuid = z.string().refine(isUuid, 'must be a uuid');

/** Positive integer minor units, at most MAX_AMOUNT_MINOR: a bigint, a safe integer or a string of digits. */
export const amountSchema = z
  .union([z.bigint(), z.number().refine(Number.isSafeInteger, 'must be an integer number of minor units'), z.string().regex(/^\d{1,19}$/, 'must be an integer number of minor units')])
  .transform((value) => BigInt(value))
  .refine((value) => value > 0n, 'must be positive')
  .refine((value) => value <= MAX_AMOUNT_MINOR, `must be at most ${MAX_AMOUNT_MINOR} minor units`);

export const currencySchema = z.string().refine(isCurrency, 'must be a supported ISO 4217 currency code').default(LEDGER_CURRENCY);

export const idempotencyKeySchema = z.string().min(1, 'must not be empty').max(MAX_IDEMPOTENCY_KEY_LENGTH, `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** A caller's number kept with the transfer (TigerBeetle's user_data_64): a non-negative bigint. */
const userDataSchema = z
  .union([z.bigint(), z.number().refine(Number.isSafeInteger, 'must be an integer'), z.string().regex(/^\d{1,19}$/, 'must be an integer')])
  .transform((value) => BigInt(value))
  .refine((value) => value >= 0n && value < 2n ** 63n, 'must be between 0 and 2^63 - 1')
  .nullish()
  .transform((value) => value ?? null);

/** Imported history carries the time it happened, never one in the future. */
const importedAtSchema = z
  .date()
  .refine((at) => !Number.isNaN(at.getTime()) && at.getTime() <= Date.now(), 'must be a time in the past')
  .nullish()
  .transform((value) => value ?? null);

/** Fields every money-moving call may carry besides its own. */
const annotations = { userData: userDataSchema, importedAt: importedAtSchema };

const codeSchema = z.string().regex(/^[A-Z][A-Z0-9_]{0,39}$/, 'must be an UPPER_SNAKE_CASE code of at most 40 characters').nullish().transform((value) => value ?? null);
const referenceSchema = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters').nullish().transform((value) => value ?? null);

const movementFields = {
  idempotencyKey: idempotencyKeySchema,
  debitAccountId: uuid,
  creditAccountId: uuid,
  amount: amountSchema,
  currency: currencySchema,
  code: codeSchema,
  reference: referenceSchema,
  ...annotations,
};
const differentAccounts = (input: { debitAccountId: string; creditAccountId: string }) => input.debitAccountId !== input.creditAccountId;
const differentAccountsIssue = { message: 'must differ from the debit account', path: ['creditAccountId'] };

export const transferSchema = z.object(movementFields).strict().refine(differentAccounts, differentAccountsIssue);
export type TransferInput = z.input<typeof transferSchema>;

export const holdSchema = z
  .object({ ...movementFields, timeoutMs: z.number().int('must be an integer').positive('must be positive').max(MAX_HOLD_TIMEOUT_MS, 'must be at most 30 days').nullish().transform((value) => value ?? null) })
  .strict()
  .refine(differentAccounts, differentAccountsIssue);
export type HoldInput = z.input<typeof holdSchema>;

export const postSchema = z.object({ idempotencyKey: idempotencyKeySchema, pendingId: uuid, amount: amountSchema.nullish().transform((value) => value ?? null), code: codeSchema, reference: referenceSchema, ...annotations }).strict();
export type PostInput = z.input<typeof postSchema>;

export const voidSchema = z.object({ idempotencyKey: idempotencyKeySchema, pendingId: uuid, code: codeSchema, reference: referenceSchema, ...annotations }).strict();
export type VoidInput = z.input<typeof voidSchema>;

export const reverseSchema = z.object({ idempotencyKey: idempotencyKeySchema, transferId: uuid, amount: amountSchema.nullish().transform((value) => value ?? null), code: codeSchema, reference: referenceSchema, ...annotations }).strict();
export type ReverseInput = z.input<typeof reverseSchema>;

export const ownedAccountSchema = z.object({ kind: z.enum(OWNED_ACCOUNT_KINDS), ownerId: uuid, currency: currencySchema }).strict();
export type OwnedAccountInput = z.input<typeof ownedAccountSchema>;

export const accountKindSchema = z.enum(ACCOUNT_KINDS);

export const pageSchema = z.object({ first: pageSizeSchema, after: z.string().max(200, 'is not a cursor from this list').nullish() }).strict();
export type PageInput = z.input<typeof pageSchema>;

export const accountIdSchema = uuid;
