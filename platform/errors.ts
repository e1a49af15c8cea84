import { GraphQLError } from 'graphql';

/**
 * The one registry of error codes. Every error a client can see carries one of these in
 * `extensions.code`; callers branch on the code, never on the message.
 * `httpStatus` is what a non-GraphQL endpoint (health, JWKS, webhooks) answers with.
 */
export const ErrorCodes = {
  UNAUTHENTICATED: { message: 'Authentication is required or the token is invalid.', httpStatus: 401 },
  FORBIDDEN: { message: 'You are not allowed to do this.', httpStatus: 403 },
  BAD_USER_INPUT: { message: 'The input is invalid.', httpStatus: 400 },
  NOT_FOUND: { message: 'The requested object does not exist.', httpStatus: 404 },
  CONFLICT: { message: 'The request conflicts with the current state.', httpStatus: 409 },
  RATE_LIMITED: { message: 'Too many requests; slow down.', httpStatus: 429 },
  INVALID_CREDENTIALS: { message: 'Phone number or password is wrong.', httpStatus: 401 },
  INVALID_REFRESH_TOKEN: { message: 'The refresh token is invalid, expired or already used.', httpStatus: 401 },
  QUOTE_INVALID: { message: 'The quote is unknown, expired, tampered with or already used.', httpStatus: 400 },
  NO_DRIVERS_FOUND: { message: 'No driver accepted the trip; it was cancelled at no charge.', httpStatus: 409 },
  INSUFFICIENT_FUNDS: { message: 'The balance does not cover this amount.', httpStatus: 409 },
  CREDIT_LIMIT_EXCEEDED: { message: 'This would take the partner account past its credit limit.', httpStatus: 409 },
  COMMISSION_DEBT_LIMIT: { message: 'Your commission debt has reached the limit; settle it before going online.', httpStatus: 403 },
  PERSISTED_QUERY_NOT_IN_LIST: { message: 'This operation is not in the persisted query list.', httpStatus: 400 },
  PERSISTED_QUERY_NOT_FOUND: { message: 'No persisted operation has this id.', httpStatus: 404 },
  SERVICE_UNAVAILABLE: { message: 'The service is not ready.', httpStatus: 503 },
  INTERNAL_SERVER_ERROR: { message: 'Something went wrong on our side.', httpStatus: 500 },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** An error meant for the client: its message and code are safe to show. */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ErrorCodes[code].message, { extensions: { code, ...details } });
    this.code = code;
    this.name = 'AppError';
  }
}

export const unauthenticated = (message?: string) => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message?: string) => new AppError('FORBIDDEN', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} was not found.`);
export const conflict = (message: string, details?: Record<string, unknown>) => new AppError('CONFLICT', message, details);

/**
 * Work past its request's deadline (the router's `x-request-deadline`, a statement Postgres cancelled):
 * SERVICE_UNAVAILABLE with reason DEADLINE_EXCEEDED, never an internal error.
 */
export const deadlineExceeded = () => new AppError('SERVICE_UNAVAILABLE', 'The request ran out of time; try again.', { reason: 'DEADLINE_EXCEEDED' });

/** Errors thrown while building a request's context carry the HTTP status of their code. */
export function asHttpError(error: unknown): never {
  if (error instanceof AppError) {
    throw new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: ErrorCodes[error.code].httpStatus } } });
  }
  throw error;
}

/** Turns a zod-style issue list into one BAD_USER_INPUT error naming every offending field. */
export function badUserInput(message: string, fields?: Record<string, string>): AppError {
  return new AppError('BAD_USER_INPUT', message, fields ? { fields } : undefined);
}

/** One call of a service batch: its value, or the coded refusal of it alone. */
export type BatchAnswer<T> = { value: T; error?: undefined } | { value?: undefined; error: AppError };

/**
 * Runs one call of a service batch per item, all at once (their Redis and SQL round trips go out
 * together). A refusal (AppError: bad input, a conflict) answers that item alone; anything else is a
 * fault and fails the batch, as it would have failed the call.
 */
export async function answerEach<I, T>(items: readonly I[], run: (item: I) => Promise<T>): Promise<Array<BatchAnswer<T>>> {
  return Promise.all(
    items.map(async (item): Promise<BatchAnswer<T>> => {
      try {
        return { value: await run(item) };
      } catch (error) {
        if (error instanceof AppError) return { error };
        throw error;
      }
    }),
  );
}
