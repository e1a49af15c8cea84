import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SERVICE_NODE_FLAGS } from '../../platform/node-flags.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

test('the Dockerfile starts every service with the V8 flags of platform/node-flags.ts', () => {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
  assert.ok(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT');
  assert.deepEqual(JSON.parse(entrypoint[1]), ['node', ...SERVICE_NODE_FLAGS, 'bin/service.ts']);
});

test('`npm run service` starts a service with the same flags', () => {
  const script: string = JSON.parse(read('package.json')).scripts.service;
  assert.equal(script, ['node', ...SERVICE_NODE_FLAGS, 'bin/service.ts'].join(' '));
});

test('this Node starts with the flags', () => {
  const run = spawnSync(process.execPath, [...SERVICE_NODE_FLAGS, '-e', 'process.exit(7)'], { encoding: 'utf8' });
  assert.equal(run.status, 7, run.stderr);
});
