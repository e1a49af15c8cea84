import { readFileSync } from 'node:fs';
import { GraphQLError, GraphQLScalarType, Kind, parse, type DocumentNode, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { deadlineExceeded, isErrorCode } from './errors.ts';
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

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw new GraphQLError('DateTime must be an ISO-8601 string with a time zone.', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime is not a valid date.', { extensions: { code: 'BAD_USER_INPUT' } });
  return date;
}

/** Apollo's own codes for request-level problems; these are safe to show as they are. */
const APOLLO_CODES = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE']);

/**
 * Masks the unexpected at the edge: errors with a registered code pass through; anything else is
 * logged in full and replaced by INTERNAL_SERVER_ERROR (with its message only outside production).
 * Stack traces never leave the process in production.
 */
export function createFormatError(options: { production: boolean; logger: Logger }) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    // Apollo Server labels any error without a code INTERNAL_SERVER_ERROR before this runs: only an error
    // that carries the code itself (ours, or a subgraph's already masked answer) is shown as it is.
    const chosen = code !== 'INTERNAL_SERVER_ERROR' || codeOf(unwrapResolverError(error)) === code;
    if (chosen && (isErrorCode(code) || (typeof code === 'string' && APOLLO_CODES.has(code)))) {
      if (!options.production) return formatted;
      const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const original = unwrapResolverError(error);
    if (isStatementTimeout(original)) {
      options.logger.warn({ err: original, path: formatted.path }, 'statement cancelled: past its time');
      return { message: deadlineExceeded().message, path: formatted.path, locations: formatted.locations, extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'DEADLINE_EXCEEDED' } };
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
