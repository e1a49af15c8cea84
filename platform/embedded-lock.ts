import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * One process at a time per embedded (PGlite) cluster. PGlite takes no lock of its own: a second
 * process opening the same directory (say `npm run create-admin` next to a running `npm start`)
 * writes through its own copy of the database, and its writes are lost or corrupt the cluster.
 *
 * The lock is a file beside the cluster, `DATA_DIR/<schema>.lock`, holding the owner's pid, host and
 * command, created atomically (written aside, then hard-linked into place: link(2) fails when the
 * file exists, and the lock is never seen half written); it is removed when the database closes, or when the
 * process exits. A lock whose pid no longer runs on this host (a crash, a kill -9) is stale and
 * taken over at once.
 *
 * Hand-rolled rather than `proper-lockfile` (the usual library): that one proves a lock alive by
 * rewriting its mtime on a timer, so (a) a process that died leaves a lock honoured until the
 * staleness window passes, (b) a PGlite start blocking the event loop (WASM migrations, seconds on a
 * busy machine) can miss the refresh and have its lock declared "compromised", which throws by
 * default, and (c) it records no owner, and the message must name the process to stop. The data
 * directory is local to one host, so a pid check answers "is the owner alive?" exactly.
 *
 * Between processes only: a process that already holds the lock may open the cluster again (tests
 * run two replicas of a subgraph in one process); it is released when the last of them closes.
 * Known window: two processes taking over the same stale lock at the same instant could both win
 * (each removes the stale file, then one removes the other's fresh one). Taking over needs a
 * crash first and then two starts racing on one directory; detecting it would need flock(2),
 * which Node does not offer.
 */
export interface EmbeddedLockOwner {
  pid: number;
  hostname: string;
  /** The owner's command line, relative to its working directory (e.g. `bin/start.ts`). */
  command: string;
  since: string;
}

export class DataDirectoryInUseError extends Error {
  readonly lockFile: string;
  readonly clusterDir: string;
  readonly owner: EmbeddedLockOwner;

  constructor(clusterDir: string, lockFile: string, owner: EmbeddedLockOwner) {
    super(
      `The embedded database ${clusterDir} is in use by another process: ${describeOwner(owner)}. ` +
        `Only one process may open an embedded (PGlite) database at a time. If that process is gone, delete ${lockFile}.`,
    );
    this.name = 'DataDirectoryInUseError';
    this.lockFile = lockFile;
    this.clusterDir = clusterDir;
    this.owner = owner;
  }
}

/** "pid 123 (bin/start.ts, since …)", or what is known of an owner whose lock file cannot be read. */
export function describeOwner(owner: EmbeddedLockOwner): string {
  if (owner.pid === 0) return 'an unknown process (its lock file cannot be read)';
  const elsewhere = owner.hostname !== os.hostname() ? ` on host ${owner.hostname}` : '';
  return `pid ${owner.pid}${elsewhere} (${owner.command || 'node'}, since ${owner.since})`;
}

const UNKNOWN_OWNER: EmbeddedLockOwner = Object.freeze({ pid: 0, hostname: '', command: '', since: '' });

export interface EmbeddedLock {
  readonly file: string;
  release(): void;
}

/** Locks held by this process: file → how many opens share it. */
const held = new Map<string, number>();
let exitHookInstalled = false;

/** Takes the lock of the embedded cluster at `clusterDir` (its parent directory must exist). */
export function lockEmbeddedCluster(clusterDir: string): EmbeddedLock {
  const file = `${path.resolve(clusterDir)}.lock`;
  const shared = held.get(file);
  if (shared !== undefined) {
    held.set(file, shared + 1);
    return handle(file);
  }
  const me: EmbeddedLockOwner = { pid: process.pid, hostname: os.hostname(), command: commandLine(), since: new Date().toISOString() };
  // At most: create, find it stale, remove, create again; a third failure means someone else won.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusively(file, `${JSON.stringify(me)}\n`)) {
      held.set(file, 1);
      installExitHook();
      return handle(file);
    }
    const owner = readOwner(file);
    if (owner === 'gone') continue; // released between our attempt and the read
    if (owner === 'unreadable' || isAlive(owner)) throw new DataDirectoryInUseError(path.resolve(clusterDir), file, owner === 'unreadable' ? UNKNOWN_OWNER : owner);
    removeIfExists(file); // stale: its process is gone
  }
  const owner = readOwner(file);
  throw new DataDirectoryInUseError(path.resolve(clusterDir), file, typeof owner === 'object' ? owner : UNKNOWN_OWNER);
}


function handle(file: string): EmbeddedLock {
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      const count = (held.get(file) ?? 1) - 1;
      if (count > 0) {
        held.set(file, count);
        return;
      }
      held.delete(file);
      removeOwnLock(file);
    },
  };
}

/** Writes the owner to a private file, then links it into place: the lock appears whole or not at all. */
function createExclusively(file: string, content: string): boolean {
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, content, { flag: 'wx', mode: 0o644 });
  try {
    linkSync(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(draft);
  }
}

function readOwner(file: string): EmbeddedLockOwner | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  try {
    const owner = JSON.parse(text) as EmbeddedLockOwner;
    return Number.isInteger(owner.pid) && owner.pid > 0 ? owner : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/**
 * Whether the lock's owner still runs. Another host's process cannot be checked: it counts as alive.
 * Our own pid in a lock we do not hold is a previous process's (pids repeat, e.g. pid 1 in a container).
 */
function isAlive(owner: EmbeddedLockOwner): boolean {
  if (owner.hostname !== os.hostname()) return true;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Removes the lock file if it is still this process's (never one a later owner took over). */
function removeOwnLock(file: string) {
  const owner = readOwner(file);
  if (typeof owner === 'object' && owner.pid === process.pid && owner.hostname === os.hostname()) removeIfExists(file);
}

function removeIfExists(file: string) {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** A process that exits without closing its databases (process.exit on a start-up error) leaves no lock behind. */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const file of held.keys()) {
      try {
        removeOwnLock(file);
      } catch {
        // exiting anyway: a leftover lock is stale and taken over by the next start
      }
    }
    held.clear();
  });
}

function commandLine(): string {
  return process.argv
    .slice(1)
    .map((arg, index) => (index === 0 && path.isAbsolute(arg) ? path.relative(process.cwd(), arg) || arg : arg))
    .join(' ');
}
