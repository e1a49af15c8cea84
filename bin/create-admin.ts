/**
 * Creates an ADMIN principal (never possible through signUp):
 *   ADMIN_PASSWORD='...' npm run create-admin -- --phone +201000000001 --name "Ops Admin"
 * Uses the accounts database from the environment (DATABASE_URL, or the embedded one under DATA_DIR).
 * An embedded database that a running server has open is refused (platform/embedded-lock.ts), and so
 * is the published demo password in production. docs/operations.md: the same in Docker Compose and Kubernetes.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ServiceConfig } from '../platform/config.ts';
import { openDatabase, type Database } from '../platform/db.ts';
import { DataDirectoryInUseError, describeOwner } from '../platform/embedded-lock.ts';
import { createLogger } from '../platform/logger.ts';
import { parseInput, z } from '../platform/validation.ts';
import { entities } from '../subgraphs/accounts/entities.ts';
import { migrations } from '../subgraphs/accounts/migrations.ts';
import { PasswordHasher } from '../subgraphs/accounts/passwords.ts';
import { createUser } from '../subgraphs/accounts/service.ts';
import { nameSchema, newPasswordSchema, phoneSchema, type DemoPasswordPolicy } from '../subgraphs/accounts/validation.ts';

const adminInputSchema = (policy: DemoPasswordPolicy) => z.object({ phone: phoneSchema, name: nameSchema, password: newPasswordSchema(policy) });

export interface AdminInput {
  phone: string;
  name: string;
  password: string;
}

/** Opens the accounts database named by the configuration and creates the admin there. */
export async function createAdmin(config: ServiceConfig, input: AdminInput) {
  const policy = { acceptDemoPassword: !config.production };
  parseInput(adminInputSchema(policy), input); // a bad input opens no database
  const logger = createLogger(config);
  const db = await openDatabase({ schema: 'accounts', entities, migrations, databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  try {
    return await createAdminIn(db, input, policy);
  } finally {
    await db.close();
  }
}

/**
 * Creates the admin in an open accounts database (also how tests make admins on a running stack).
 * The demo password is refused unless the policy accepts it (createAdmin: outside production).
 */
export async function createAdminIn(db: Database, input: AdminInput, policy: DemoPasswordPolicy = {}) {
  const admin = parseInput(adminInputSchema(policy), input);
  const user = await createUser(db.fork(), new PasswordHasher(), { ...admin, role: 'ADMIN' });
  return { id: user.id, phone: user.phone, name: user.name, role: user.role };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { phone: { type: 'string' }, name: { type: 'string' } } });
  const password = process.env.ADMIN_PASSWORD;
  if (!values.phone || !values.name || !password) {
    console.error('usage: ADMIN_PASSWORD=... npm run create-admin -- --phone +201000000001 --name "Ops Admin"');
    process.exit(2);
  }
  try {
    const admin = await createAdmin(loadConfig('accounts'), { phone: values.phone, name: values.name, password });
    console.log(`created admin ${admin.id} (${admin.phone})`);
  } catch (error) {
    console.error(error instanceof DataDirectoryInUseError ? inUseMessage(error) : error instanceof Error ? error.message : error);
    process.exit(1);
  }
}

/** What to do when the embedded accounts database is open in a running server. */
function inUseMessage(error: DataDirectoryInUseError): string {
  const server = /(^|\/)bin\/start\.ts\b/.test(error.owner.command) ? 'The embedded server (npm start)' : 'Another SmartLine process';
  return [
    `create-admin: nothing was written. ${server} is using the embedded accounts database ${error.clusterDir}: ${describeOwner(error.owner)}.`,
    'An embedded (PGlite) database has one writer at a time; an admin written beside a running server would be lost or corrupt it.',
    'Stop that process first (Ctrl-C), run create-admin again, then start it again; or run against Postgres (DATABASE_URL), where create-admin works while the services run.',
    `If no such process is running, delete the stale lock ${error.lockFile}.`,
  ].join('\n');
}
