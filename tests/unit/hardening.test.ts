import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphQLError, parse } from 'graphql';
import { loadConfig } from '../../platform/config.ts';
import { createFormatError, DateTimeScalar, isOutage, withoutSuggestions } from '../../platform/graphql.ts';
import { assertArgumentsClean, MAX_ARGUMENT_STRING_CHARS } from '../../platform/input-guard.ts';
import type { Logger } from '../../platform/logger.ts';
import { checkGraphQLRequestShape, MAX_VARIABLES_DEPTH, nonFiniteLiteral } from '../../platform/request-shape.ts';

/** A logger that remembers the level of every line. */
function recordingLogger() {
  const levels: string[] = [];
  const logger = { error: () => levels.push('error'), warn: () => levels.push('warn'), info: () => levels.push('info'), debug: () => undefined } as unknown as Logger;
  return { logger, levels };
}

const codeOfDateTime = (value: unknown) => {
  try {
    DateTimeScalar.parseValue(value);
    return 'ok';
  } catch (error) {
    return (error as GraphQLError).extensions.code;
  }
};

describe('DateTime input', () => {
  it('takes ISO-8601 instants from 2000 to 2099, with a zone', () => {
    for (const value of ['2000-01-01T00:00:00Z', '2026-11-22T08:15:00.123Z', '2099-12-31T23:59:59+02:00', '2024-02-29T10:00Z']) assert.equal(codeOfDateTime(value), 'ok', value);
  });

  it('refuses years storage cannot hold or no clock reaches, impossible days and times, and anything not a string, as BAD_USER_INPUT', () => {
    for (const value of ['0000-01-01T00:00:00Z', '1900-01-01T00:00:00Z', '1999-12-31T23:59:59Z', '2100-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-02-30T00:00:00Z', '2025-02-29T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:60:00Z', '2026-01-01T00:00:00+25:00', '2026-01-01', 'x'.repeat(10_000), 12, null, {}]) {
      assert.equal(codeOfDateTime(value), 'BAD_USER_INPUT', String(value).slice(0, 40));
    }
  });
});

describe('arguments at the subgraph edge', () => {
  const refused = (args: Record<string, unknown>) => {
    try {
      assertArgumentsClean(args);
      return undefined;
    } catch (error) {
      return (error as GraphQLError).extensions;
    }
  };

  it('refuses control characters, lone surrogates, overlong strings and non-finite numbers at any depth, naming the argument', () => {
    assert.deepEqual(refused({ input: { name: 'a\u0000b' } }), { code: 'BAD_USER_INPUT', fields: { 'input.name': 'must not contain control characters' } });
    assert.equal(refused({ reason: 'bell\u0007' })?.code, 'BAD_USER_INPUT');
    assert.equal(refused({ reason: 'c1\u0085' })?.code, 'BAD_USER_INPUT');
    assert.equal(refused({ reason: 'lone \ud800 surrogate' })?.code, 'BAD_USER_INPUT');
    assert.deepEqual(refused({ batch: [{ lat: 1 }, { lat: Infinity }] })?.fields, { 'batch.1.lat': 'must be a finite number' });
    assert.equal(refused({ note: 'x'.repeat(MAX_ARGUMENT_STRING_CHARS + 1) })?.code, 'BAD_USER_INPUT');
  });

  it('lets ordinary text through: tabs, new lines, Arabic, emoji', () => {
    assert.equal(refused({ reason: 'line one\nline two\ttabbed\r\n', name: 'محمد 🚕', at: new Date(), n: 1.5, none: null }), undefined);
  });
});

describe('request shapes', () => {
  const codeOf = (body: unknown) => checkGraphQLRequestShape(body)?.code;
  const deep = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  };

  it('refuses malformed envelopes with BAD_REQUEST and bad variables with BAD_USER_INPUT, all 400', () => {
    assert.equal(codeOf(null), 'BAD_REQUEST');
    assert.equal(codeOf('query'), 'BAD_REQUEST');
    assert.equal(codeOf({ query: 5 }), 'BAD_REQUEST');
    assert.equal(codeOf({ query: '{ a }', operationName: 5 }), 'BAD_REQUEST');
    assert.equal(codeOf({ query: '{ a }', operationName: 'not a name' }), 'BAD_REQUEST');
    assert.equal(codeOf({ extensions: { persistedQuery: { version: 1, sha256Hash: 'zz' } } }), 'BAD_REQUEST');
    assert.equal(codeOf({ extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } } }), 'BAD_REQUEST');
    assert.equal(codeOf({ extensions: { persistedQuery: 'x' } }), 'BAD_REQUEST');
    assert.equal(codeOf({ query: '{ a }', variables: [] }), 'BAD_REQUEST');
    assert.equal(codeOf({ query: '{ a }', variables: { v: deep(MAX_VARIABLES_DEPTH + 1) } }), 'BAD_USER_INPUT');
    assert.equal(codeOf({ query: '{ a }', variables: { v: Array.from({ length: 10_000 }, () => 1) } }), 'BAD_USER_INPUT');
    assert.equal(checkGraphQLRequestShape({ query: '{ a }' })?.status, undefined);
  });

  it('walks a variables object of any depth without recursion', () => {
    let value: unknown = 1;
    for (let i = 0; i < 200_000; i++) value = [value];
    assert.equal(codeOf({ query: '{ a }', variables: { v: value } }), 'BAD_USER_INPUT');
  });

  it('accepts what clients send', () => {
    assert.equal(codeOf({ query: 'query A { a }', operationName: 'A', variables: { input: { lat: 30, lng: 31 } }, extensions: { persistedQuery: { version: 1, sha256Hash: 'ab'.repeat(32) } } }), undefined);
    assert.equal(codeOf([{ query: '{ a }' }]), undefined, 'batches are Apollo Server’s to refuse');
  });

  it('finds number literals beyond any number', () => {
    assert.equal(nonFiniteLiteral(parse('{ a(x: 1e400) }')), '1e400');
    assert.equal(nonFiniteLiteral(parse(`{ a(x: ${'9'.repeat(400)}) }`)), '9'.repeat(400));
    assert.equal(nonFiniteLiteral(parse('{ a(x: 1.5e10, y: -3) }')), null);
  });
});

describe('the error mask', () => {
  it('turns Apollo Server’s uncoded 4xx refusals into BAD_REQUEST, with no error log', () => {
    const { logger, levels } = recordingLogger();
    const format = createFormatError({ production: true, logger });
    const error = new GraphQLError('provided sha does not match query', { extensions: { http: { status: 400 } } });
    assert.deepEqual(format({ message: error.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }, error).extensions?.code, 'BAD_REQUEST');
    assert.deepEqual(levels, []);
  });

  it('answers an outage SERVICE_UNAVAILABLE without its cause, logged as a warning', () => {
    const { logger, levels } = recordingLogger();
    const format = createFormatError({ production: false, logger });
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const error = new GraphQLError('connect ECONNREFUSED 127.0.0.1:5432', { originalError: cause });
    const formatted = format({ message: error.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }, error);
    assert.deepEqual(formatted, { message: 'The service is not ready.', path: undefined, locations: undefined, extensions: { code: 'SERVICE_UNAVAILABLE' } });
    assert.deepEqual(levels, ['warn']);
    assert.equal(isOutage(Object.assign(new Error('x'), { code: '57P01' })), true);
    assert.equal(isOutage(Object.assign(new Error('x'), { code: '22008' })), false);
  });

  it('in production, strips "Did you mean" from every message', () => {
    const { logger } = recordingLogger();
    const format = createFormatError({ production: true, logger });
    const message = 'Cannot query field "mee" on type "Query". Did you mean "me"?';
    assert.equal(format({ message, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }, new GraphQLError(message)).message, 'Cannot query field "mee" on type "Query".');
    assert.equal(createFormatError({ production: false, logger })({ message, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }, new GraphQLError(message)).message, message);
    assert.equal(withoutSuggestions('Value "RIDR" does not exist in "Role" enum. Did you mean the enum value "RIDER"?'), 'Value "RIDR" does not exist in "Role" enum.');
  });
});

describe('production defaults', () => {
  const production = { NODE_ENV: 'production', SERVICE_TOKEN_SECRET: 's'.repeat(32) };

  it('allows no CORS origin unless configured', () => {
    assert.deepEqual(loadConfig('router', production).corsOrigins, []);
    assert.deepEqual(loadConfig('router', { ...production, CORS_ORIGINS: 'https://app.example' }).corsOrigins, ['https://app.example']);
    assert.deepEqual(loadConfig('router', {}).corsOrigins, ['http://localhost:4000', 'https://studio.apollographql.com']);
  });

  it('never serves /metrics on the main port in production; METRICS_PORT moves it anywhere', () => {
    assert.deepEqual(loadConfig('router', production).metrics, { port: undefined, onMainPort: false });
    assert.deepEqual(loadConfig('router', { ...production, METRICS_PORT: '9464' }).metrics, { port: 9464, onMainPort: false });
    assert.deepEqual(loadConfig('router', {}).metrics, { port: undefined, onMainPort: true });
    assert.deepEqual(loadConfig('router', { METRICS_PORT: '0' }).metrics, { port: 0, onMainPort: false });
  });
});
