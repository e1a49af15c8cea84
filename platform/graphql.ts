import { readFileSync } from 'node:fs';
import { GraphQLError, GraphQLScalarType, Kind, parse, type DocumentNode, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { deadlineExceeded, ErrorCodes, isErrorCode } from './errors.ts';
import type { Logger } from './logger.ts';

/** ISO-8601 UTC timestamps, always serialized with a `Z`. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 timestamp in UTC, e.g. 2026-11-22T08:15:00.000Z.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date.');
    return date.toISOString();
  },
  parseValue(value) {
    return parseDateTime(value);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string.', { extensions: { code: 'BAD_USER_INPUT' } });
    return parseDateTime(ast.value);
  },
});

/**
 * The instants a DateTime input may name: 2000-01-01 (inclusive) to 2100-01-01 (exclusive), UTC. Nothing
 * the API takes means a time outside it, and outside it lie values storage cannot hold (Postgres has no
 * year 0) or that no clock will reach: refused here as BAD_USER_INPUT, never found out by a writer later.
 */
export const DATE_TIME_MIN = Date.UTC(2000, 0, 1);
export const DATE_TIME_MAX = Date.UTC(2100, 0, 1);

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|[+-](\d{2}):(\d{2}))$/;

function parseDateTime(value: unknown): Date {
  const parts = typeof value === 'string' && value.length <= 40 ? DATE_TIME.exec(value) : null;
  if (!parts) throw new GraphQLError('DateTime must be an ISO-8601 string with a time zone.', { extensions: { code: 'BAD_USER_INPUT' } });
  const number = (index: number) => (parts[index] === undefined ? 0 : Number(parts[index]));
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [1, 2, 3, 4, 5, 6, 8, 9].map(number) as [number, number, number, number, number, number, number, number];
  // Each part within its own range: JavaScript would roll 2026-02-30 over to March 2nd.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) {
    throw new GraphQLError('DateTime is not a valid date.', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  const date = new Date(value as string);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime is not a valid date.', { extensions: { code: 'BAD_USER_INPUT' } });
  if (date.getTime() < DATE_TIME_MIN || date.getTime() >= DATE_TIME_MAX) {
    throw new GraphQLError('DateTime must be between 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z.', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return date;
}

/** Apollo's own codes for request-level problems; these are safe to show as they are. */
const APOLLO_CODES = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE']);

/** graphql-js's "Did you mean …?" hints, which spell out the schema's field, argument, type and enum names. */
const SUGGESTION = / ?Did you mean(.+?)\?$/;

/** A message without its "Did you mean …?" hint (what Apollo Server's hideSchemaDetailsFromClientErrors removes, for every error). */
export function withoutSuggestions(message: string): string {
  return message.replace(SUGGESTION, '');
}

/**
 * Masks the unexpected at the edge: errors with a registered code pass through; anything else is
 * logged in full and replaced by INTERNAL_SERVER_ERROR (with its message only outside production).
 * Stack traces never leave the process in production, nor, there, graphql-js's "Did you mean …?"
 * suggestions (validation and variable errors alike: the schema is not public in production).
 *
 * Two kinds of uncoded errors are not ours to hide: Apollo Server's own refusals of a request (a
 * persisted query of an unknown version, a hash that does not match its query), which carry an HTTP
 * 4xx status and become BAD_REQUEST; and an outage (a subgraph, Postgres or Redis out of reach), which
 * becomes SERVICE_UNAVAILABLE with a generic message, logged as a warning: neither is a bug of ours.
 */
export function createFormatError(options: { production: boolean; logger: Logger }) {
  const shown = (formatted: GraphQLFormattedError): GraphQLFormattedError => {
    if (!options.production) return formatted;
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, message: withoutSuggestions(formatted.message), extensions };
  };
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    // Apollo Server labels any error without a code INTERNAL_SERVER_ERROR before this runs: only an error
    // that carries the code itself (ours, or a subgraph's already masked answer) is shown as it is.
    const original = unwrapResolverError(error);
    const chosen = code !== 'INTERNAL_SERVER_ERROR' || codeOf(original) === code;
    if (chosen && (isErrorCode(code) || (typeof code === 'string' && APOLLO_CODES.has(code)))) return shown(formatted);
    if (codeOf(original) === undefined && isClientStatus(httpStatusOf(original))) {
      return shown({ message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { ...formatted.extensions, code: 'BAD_REQUEST' } });
    }
    if (isStatementTimeout(original)) {
      options.logger.warn({ err: original, path: formatted.path }, 'statement cancelled: past its time');
      return { message: deadlineExceeded().message, path: formatted.path, locations: formatted.locations, extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'DEADLINE_EXCEEDED' } };
    }
    const refusedUpstream = subgraphRefusal(original);
    if (refusedUpstream) return shown({ message: refusedUpstream.message, locations: formatted.locations, path: formatted.path, extensions: { code: refusedUpstream.code } });
    if (isOutage(original)) {
      options.logger.warn({ err: original, path: formatted.path }, 'dependency unavailable');
      return { message: ErrorCodes.SERVICE_UNAVAILABLE.message, path: formatted.path, locations: formatted.locations, extensions: { code: 'SERVICE_UNAVAILABLE' } };
    }
    options.logger.error({ err: original, path: formatted.path }, 'unexpected error');
    return {
      message: options.production ? 'Something went wrong on our side.' : formatted.message,
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: 'INTERNAL_SERVER_ERROR', ...(!options.production && formatted.extensions?.stacktrace ? { stacktrace: formatted.extensions.stacktrace } : {}) },
    };
  };
}

/**
 * A subgraph's 4xx answer as the gateway reports it (`400: Bad Request`, the body under
 * extensions.response): the subgraph refused the client's operation (a literal its scalar rejects fails
 * its validation), so the client sees the subgraph's own coded error, not a 500.
 */
function subgraphRefusal(error: unknown): { message: string; code: string } | undefined {
  if (!(error instanceof GraphQLError)) return undefined;
  const response = error.extensions?.response as { status?: unknown; body?: unknown } | undefined;
  if (!response || !isClientStatus(response.status)) return undefined;
  const errors = (response.body as { errors?: unknown } | undefined)?.errors;
  const first = Array.isArray(errors) ? (errors[0] as { message?: unknown; extensions?: { code?: unknown } } | undefined) : undefined;
  const code = first?.extensions?.code;
  if (typeof first?.message === 'string' && (isErrorCode(code) || (typeof code === 'string' && APOLLO_CODES.has(code)))) return { message: first.message, code: code as string };
  return { message: 'The request was refused.', code: 'BAD_REQUEST' };
}

/** The HTTP status an error asks for (Apollo Server's `extensions.http.status`). */
function httpStatusOf(error: unknown): unknown {
  return error instanceof GraphQLError ? (error.extensions?.http as { status?: unknown } | undefined)?.status : undefined;
}

const isClientStatus = (status: unknown): boolean => typeof status === 'number' && status >= 400 && status < 500;

/** Network errors of a connection that could not be made or was lost: the dependency is out of reach. */
const OUTAGE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);
/** Postgres SQLSTATEs of a server that cannot serve: connection exceptions (08), too many connections, shutting down, cannot connect now. */
const OUTAGE_SQLSTATE = /^(08...|53300|57P0[1-3])$/;
/** Error names of the clients we use for a dependency out of reach (MikroORM, ioredis). */
const OUTAGE_NAMES = new Set(['ConnectionException', 'MaxRetriesPerRequestError']);

/**
 * Whether an error (or one of its causes) says a dependency is out of reach rather than that something
 * is wrong with the request or with our code. Bounded walk: causes may be cyclic.
 */
export function isOutage(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current && typeof current === 'object'; depth++) {
    const candidate = current as { name?: unknown; code?: unknown; sqlState?: unknown; errno?: unknown; constructor?: { name?: unknown }; cause?: unknown; originalError?: unknown };
    if (OUTAGE_NAMES.has(String(candidate.name)) || OUTAGE_NAMES.has(String(candidate.constructor?.name))) return true;
    for (const code of [candidate.code, candidate.sqlState, candidate.errno]) {
      if (typeof code === 'string' && (OUTAGE_ERRNOS.has(code) || OUTAGE_SQLSTATE.test(code))) return true;
    }
    if (current instanceof Error && /Connection terminated|Connection is closed|connect ECONNREFUSED/.test(current.message)) return true;
    current = candidate.originalError ?? candidate.cause;
  }
  return false;
}

/** Postgres cancelled the statement (SQLSTATE 57014: DATABASE_STATEMENT_TIMEOUT_MS ran out). */
export function isStatementTimeout(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    if ((current as { code?: unknown }).code === '57014') return true;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The code an error was raised with (before Apollo Server filled in a default). */
function codeOf(error: unknown): unknown {
  return error instanceof GraphQLError ? error.extensions?.code : undefined;
}

/** Reads a subgraph's SDL file (the source of truth for composition and codegen). */
export function readSchema(file: URL): DocumentNode {
  return parse(readFileSync(file, 'utf8'));
}
