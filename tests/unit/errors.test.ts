import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AppError, ErrorCodes } from '../../platform/errors.ts';

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
