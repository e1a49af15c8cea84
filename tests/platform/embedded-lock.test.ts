import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../platform/config.ts';
import { openDatabase, type Database } from '../../platform/db.ts';
import { DataDirectoryInUseError, lockEmbeddedCluster } from '../../platform/embedded-lock.ts';
import { createLogger } from '../../platform/logger.ts';
import { User } from '../../subgraphs/accounts/entities.ts';
import { SUBGRAPHS } from '../../subgraphs/index.ts';
import { CREATE_ADMIN_ENTRY, runToExit, startEmbeddedProcess } from '../support/commands.ts';
import { seedEverySubgraph } from '../support/pglite-templates.ts';

/** A pid that certainly ran and certainly ended: a child we waited for. */
function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve(child.pid!));
  });
}

const openAccounts = (dataDir: string): Promise<Database> =>
  openDatabase({ schema: 'accounts', entities: SUBGRAPHS.accounts.entities, migrations: SUBGRAPHS.accounts.migrations, dataDir, logger: createLogger(loadConfig('accounts', { LOG_LEVEL: 'silent' })) });

/** The environment of an operator running `npm run create-admin` against an embedded DATA_DIR (no DATABASE_URL). */
const createAdminEnv = (dataDir: string) => ({ PATH: process.env.PATH ?? '', NODE_ENV: 'development', LOG_LEVEL: 'silent', DATA_DIR: dataDir, ADMIN_PASSWORD: 'admin-password-123' });
const createAdmin = (dataDir: string, phone: string) => runToExit(CREATE_ADMIN_ENTRY, ['--phone', phone, '--name', 'Ops Admin'], createAdminEnv(dataDir));

describe('the embedded data directory lock', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'smartline-lock-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is a file beside the cluster naming this process, shared within it, gone after the last release', () => {
    const cluster = path.join(dir, 'shared');
    const first = lockEmbeddedCluster(cluster);
    assert.equal(first.file, `${cluster}.lock`);
    assert.equal(JSON.parse(readFileSync(first.file, 'utf8')).pid, process.pid);
    const second = lockEmbeddedCluster(cluster);
    first.release();
    first.release(); // twice is once
    assert.ok(existsSync(second.file), 'still held by the second open');
    second.release();
    assert.ok(!existsSync(second.file));
  });

  it('takes over a lock whose process is gone', async () => {
    const cluster = path.join(dir, 'stale');
    const gone = await deadPid();
    writeFileSync(`${cluster}.lock`, JSON.stringify({ pid: gone, hostname: os.hostname(), command: 'bin/start.ts', since: new Date(0).toISOString() }));
    const lock = lockEmbeddedCluster(cluster);
    assert.equal(JSON.parse(readFileSync(lock.file, 'utf8')).pid, process.pid);
    lock.release();
    assert.ok(!existsSync(lock.file));
  });

  it('refuses a lock another live process holds, naming it', () => {
    const cluster = path.join(dir, 'busy');
    const owner = { pid: process.ppid, hostname: os.hostname(), command: 'bin/start.ts', since: '2026-12-04T10:00:00.000Z' };
    writeFileSync(`${cluster}.lock`, JSON.stringify(owner));
    assert.throws(() => lockEmbeddedCluster(cluster), (error: unknown) => {
      assert.ok(error instanceof DataDirectoryInUseError);
      assert.deepEqual(error.owner, owner);
      assert.match(error.message, new RegExp(`in use by another process: pid ${process.ppid} \\(bin/start.ts, since`));
      return true;
    });
    assert.deepEqual(JSON.parse(readFileSync(`${cluster}.lock`, 'utf8')), owner, 'left as it was');
  });
});

describe('create-admin against an embedded database another process has open', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'smartline-create-admin-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses with exit code 1 and writes nothing; once the database is closed it creates the admin', async () => {
    const phone = '+201066600001';
    const held = await openAccounts(dataDir);
    try {
      const refused = await createAdmin(dataDir, phone);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /create-admin: nothing was written\. Another SmartLine process is using the embedded accounts database/);
      assert.match(refused.stderr, new RegExp(`pid ${process.pid} `));
      assert.match(refused.stderr, /Stop that process first/);
      assert.equal(await held.fork().count(User, { phone }), 0);
    } finally {
      await held.close();
    }

    const created = await createAdmin(dataDir, phone);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    assert.match(created.stdout, /created admin [0-9a-f-]{36} \(\+201066600001\)/);
    const reopened = await openAccounts(dataDir);
    try {
      const admin = await reopened.fork().findOneOrFail(User, { phone });
      assert.equal(admin.role, 'ADMIN');
    } finally {
      await reopened.close();
    }
  });

  it('names the running embedded server (npm start) and works after it stops', async () => {
    const phone = '+201066600002';
    await seedEverySubgraph(dataDir); // migrated clusters for the other subgraphs: a fresh start would spend most of this test in initdb
    const server = await startEmbeddedProcess({ PATH: process.env.PATH ?? '', NODE_ENV: 'development', LOG_LEVEL: 'warn', DATA_DIR: dataDir, DEMO_DATA: 'false', DEMO_SIMULATION: 'false' });
    let stopped = false;
    try {
      const refused = await createAdmin(dataDir, phone);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, new RegExp(`The embedded server \\(npm start\\) is using the embedded accounts database .*: pid ${server.child.pid} \\(bin/start\\.ts`));
      assert.equal(await server.stop(), 0);
      stopped = true;
    } finally {
      if (!stopped) await server.stop();
    }
    const created = await createAdmin(dataDir, phone);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    const db = await openAccounts(dataDir);
    try {
      assert.equal((await db.fork().findOneOrFail(User, { phone })).role, 'ADMIN');
    } finally {
      await db.close();
    }
  });
});
