import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, SUBGRAPH_NAMES, type SubgraphName } from '../../platform/config.ts';
import { createLogger } from '../../platform/logger.ts';
import { openSubgraphDatabase, type SubgraphSetup } from '../../platform/subgraph.ts';
import { SUBGRAPHS } from '../../subgraphs/index.ts';

/**
 * Embedded test stacks start from a copy of an already migrated PGlite cluster instead of a new one.
 *
 * A new PGlite cluster (initdb in WebAssembly, then every migration) costs about 6 s of CPU per
 * subgraph on the 2-core reference machine, so 30 s per five-subgraph stack, most of an embedded
 * `npm test`. Copying a closed, migrated cluster (39 MB) and opening it costs under a second.
 *
 * A template is built once per version of the code: its key digests every source file under
 * `platform/` and `subgraphs/` (migrations live there, and import what they like) and the PGlite
 * version, so a changed migration never meets a stale template. Test processes running at once build
 * a missing template side by side and the first rename wins. Templates of other keys are removed once
 * an hour old. Only what a test does not look at is shared: every stack still gets its own copy.
 */
const TEMPLATE_ROOT = path.join(os.tmpdir(), 'smartline-pglite-templates');
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const STALE_TEMPLATE_MS = 3_600_000;

let templateKey: string | undefined;

/**
 * Copies a migrated cluster of each subgraph into `dataDir/<name>`, where openDatabase looks for it
 * (the subgraph's migrations and then the platform's, as the subgraph runner applies them). A cluster
 * already there is left alone: a second replica opens the first one's database.
 */
export async function seedFromTemplates(dataDir: string, setups: ReadonlyArray<Pick<SubgraphSetup, 'name' | 'entities' | 'migrations'>>) {
  const missing = setups.filter((setup) => !existsSync(path.join(dataDir, setup.name)));
  const templates = await Promise.all(missing.map(templateFor));
  missing.forEach((setup, i) => cpSync(templates[i], path.join(dataDir, setup.name), { recursive: true }));
}

/** Every subgraph's cluster, for tests that start whole processes (`npm start`, `npm run service`) on `dataDir`. */
export function seedEverySubgraph(dataDir: string) {
  return seedFromTemplates(dataDir, SUBGRAPH_NAMES.map((name) => SUBGRAPHS[name]));
}

async function templateFor(setup: Pick<SubgraphSetup, 'name' | 'entities' | 'migrations'>): Promise<string> {
  const key = currentKey();
  const keyDir = path.join(TEMPLATE_ROOT, key);
  // The migration list is part of the name: a test's setup may replace a subgraph's migrations.
  const name = `${setup.name}-${digest(setup.migrations.map((migration) => migration.name).join(','))}`;
  const template = path.join(keyDir, name);
  if (existsSync(template)) return template;

  mkdirSync(keyDir, { recursive: true });
  removeStaleTemplates(key);
  const building = path.join(keyDir, `.building-${process.pid}-${randomBytes(4).toString('hex')}`);
  const env = { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: building };
  const db = await openSubgraphDatabase(setup, loadConfig(setup.name as SubgraphName, env), { logger: createLogger(loadConfig('router', env)) });
  await db.close();
  try {
    renameSync(path.join(building, setup.name), template);
  } catch (error) {
    // Another test process finished the same template first: use theirs.
    if (!existsSync(template)) throw error;
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

function currentKey(): string {
  if (templateKey) return templateKey;
  const hash = createHash('sha256');
  for (const dir of ['platform', 'subgraphs']) {
    for (const file of sourceFiles(path.join(REPO_ROOT, dir))) hash.update(file).update(readFileSync(file));
  }
  hash.update(JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')).version);
  templateKey = hash.digest('hex').slice(0, 16);
  return templateKey;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => path.join(dir, file));
}

function removeStaleTemplates(currentKeyName: string) {
  for (const entry of readdirSync(TEMPLATE_ROOT)) {
    const dir = path.join(TEMPLATE_ROOT, entry);
    if (entry !== currentKeyName && Date.now() - statSync(dir).mtimeMs > STALE_TEMPLATE_MS) rmSync(dir, { recursive: true, force: true });
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
