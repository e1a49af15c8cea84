import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A copy of the sources the checks read, so an SDL file can be changed without touching the checkout. */
describe('the staleness checks', () => {
  let copy: string;
  const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: copy, encoding: 'utf8' });

  before(() => {
    copy = mkdtempSync(path.join(os.tmpdir(), 'smartline-staleness-'));
    for (const entry of ['schema', 'platform', 'subgraphs', 'clients', 'codegen.yml', 'package.json']) cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
    symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  });
  after(() => rmSync(copy, { recursive: true, force: true }));

  const codegen = (check: boolean) => run([path.join(copy, 'node_modules/@graphql-codegen/cli/cjs/bin.js'), '--config', 'codegen.yml', ...(check ? ['--check'] : [])]);

  it('pass on the committed files', () => {
    assert.equal(run(['schema/compose.ts', '--check']).status, 0);
    assert.equal(codegen(true).status, 0);
  });

  it('fail when an SDL file changes without regeneration, and pass again after it', () => {
    const sdl = path.join(copy, 'subgraphs/drivers/schema.graphql');
    writeFileSync(sdl, readFileSync(sdl, 'utf8').replace('type Vehicle {', 'type Vehicle {\n  "Seats, driver excluded."\n  seats: Int'));
    const compose = run(['schema/compose.ts', '--check']);
    assert.notEqual(compose.status, 0);
    assert.match(compose.stderr, /stale/);
    assert.notEqual(codegen(true).status, 0, 'codegen --check fails on a stale generated file');

    assert.equal(run(['schema/compose.ts']).status, 0);
    assert.equal(codegen(false).status, 0);
    assert.equal(run(['schema/compose.ts', '--check']).status, 0);
    assert.equal(codegen(true).status, 0);
  });
});
