/** Partners' and API keys' arguments, parsed before anything is read or written. */
import { isUuid, z } from '../../../platform/validation.ts';
import { nameSchema } from '../validation.ts';

export const MAX_OVERLAP_SECONDS = 7 * 24 * 3600;
export const MAX_OPERATIONS_PER_KEY = 500;

const uuid = z.string().refine(isUuid, 'must be an id from this API');
/** A persisted operation's manifest name: a GraphQL name. */
const operationName = z.string().regex(/^[_A-Za-z][_0-9A-Za-z]{0,127}$/, 'must be operation names (GraphQL names of at most 128 characters)');

export const createPartnerInputSchema = z.object({ name: nameSchema }).strict();

export const createApiKeyArgsSchema = z.object({
  partnerId: uuid,
  input: z
    .object({
      name: nameSchema,
      operations: z
        .array(operationName)
        .max(MAX_OPERATIONS_PER_KEY, `must list at most ${MAX_OPERATIONS_PER_KEY} operations`)
        .nullish()
        .transform((names) => [...new Set(names ?? [])].sort()),
      requestsPerMinute: z.number().int('must be a whole number').min(1, 'must be at least 1').max(100_000, 'must be at most 100000'),
    })
    .strict(),
});
export type CreateApiKeyArgs = z.output<typeof createApiKeyArgsSchema>;

export const apiKeyIdArgsSchema = z.object({ id: uuid });

export const rotateApiKeyArgsSchema = z.object({
  id: uuid,
  overlapSeconds: z.number().int('must be a whole number').min(0, 'must be at least 0').max(MAX_OVERLAP_SECONDS, `must be at most ${MAX_OVERLAP_SECONDS} (7 days)`),
});
