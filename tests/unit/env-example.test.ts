import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENVIRONMENT_VARIABLES } from '../../platform/config.ts';

const lines = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').split('\n');

/** Each `NAME=value` line, with the comment block right above it. */
const documented = lines.flatMap((line, index) => {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
  if (!match) return [];
  const comments: string[] = [];
  for (let i = index - 1; i >= 0 && lines[i].startsWith('#'); i--) comments.unshift(lines[i]);
  return [{ name: match[1], value: match[2], comment: comments.join('\n') }];
});
const names = documented.map((entry) => entry.name);

test('.env.example documents every variable platform/config.ts reads', () => {
  const missing = ENVIRONMENT_VARIABLES.filter((name) => !names.includes(name));
  assert.deepEqual(missing, [], `add to .env.example: ${missing.join(', ')}`);
});

test('.env.example documents no variable platform/config.ts does not read', () => {
  const extra = names.filter((name) => !ENVIRONMENT_VARIABLES.includes(name));
  assert.deepEqual(extra, [], `remove from .env.example (or add to platform/config.ts): ${extra.join(', ')}`);
});

test('.env.example documents each variable once', () => {
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  assert.deepEqual(duplicates, []);
});

test('every variable says which services read it, its default and an example', () => {
  for (const { name, comment } of documented) {
    assert.match(comment, new RegExp(`^# ${name}: \\S`, 'm'), `${name}: the comment block starts with "# ${name}: <what it is>"`);
    assert.match(comment, /^# Read by: \S/m, `${name}: says which services read it`);
    assert.match(comment, /^# Default: \S/m, `${name}: states its default`);
    assert.match(comment, new RegExp(`^# Example: ${name}=\\S`, 'm'), `${name}: gives an example`);
  }
});

test('.env.example commits no values, so no secrets', () => {
  const set = documented.filter(({ value }) => value.trim() !== '').map(({ name }) => name);
  assert.deepEqual(set, [], 'leave values empty (= default); show values in the Example line');
});
