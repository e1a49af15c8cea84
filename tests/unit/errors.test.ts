import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GraphQLError } from 'graphql';
import { AppError, ErrorCodes } from '../../platform/errors.ts';
import { createFormatError } from '../../platform/graphql.ts';
import type { Logger } from '../../platform/logger.ts';

describe('the error registry', () => {
  it('documents every code in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(ErrorCodes)) assert.ok(readme.includes(`\`${code}\``), `README.md documents ${code}`);
  });

  it('puts the code in extensions and a safe default message', () => {
    const error = new AppError('CONFLICT');
    assert.equal(error.extensions.code, 'CONFLICT');
    assert.equal(error.message, ErrorCodes.CONFLICT.message);
  });
});

describe('masking at the edge (createFormatError)', () => {
  const logged: unknown[] = [];
  const logger = { error: (entry: unknown) => logged.push(entry) } as unknown as Logger;
  // What Apollo Server hands formatError for a resolver that threw: the code already defaulted.
  const asApolloFormats = (error: Error) => {
    const located = new GraphQLError(error.message, { path: ['trip'], originalError: error });
    return [{ message: located.message, path: ['trip'], extensions: { code: (located.extensions.code as string | undefined) ?? 'INTERNAL_SERVER_ERROR', stacktrace: ['at somewhere'] } }, located] as const;
  };

  it('hides what an unexpected error says in production, and logs it whole', () => {
    const [formatted, error] = asApolloFormats(new Error('connection to 10.0.0.7:5432 refused'));
    const shown = createFormatError({ production: true, logger })(formatted, error);
    assert.deepEqual(shown, { message: 'Something went wrong on our side.', path: ['trip'], locations: undefined, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    assert.equal(logged.length, 1);
  });

  it('shows it, with its stack, outside production', () => {
    const [formatted, error] = asApolloFormats(new Error('connection refused'));
    const shown = createFormatError({ production: false, logger })(formatted, error);
    assert.equal(shown.message, 'connection refused');
    assert.deepEqual(shown.extensions, { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at somewhere'] });
  });

  it('passes an error raised with a registered code as it is, without its stack in production', () => {
    const [formatted, error] = asApolloFormats(new AppError('CONFLICT', 'Already accepted.'));
    const shown = createFormatError({ production: true, logger })(formatted, error);
    assert.deepEqual(shown, { message: 'Already accepted.', path: ['trip'], extensions: { code: 'CONFLICT' } });
  });
});
