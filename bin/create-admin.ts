/**
 * Creates an ADMIN principal (never possible through signUp):
 *   ADMIN_PASSWORD='...' npm run create-admin -- --phone +201000000001 --name "Ops Admin"
 * Uses the accounts database from the environment (DATABASE_URL, or the embedded one under DATA_DIR).
 */
import { parseArgs } from 'node:util';
import { loadConfig, type ServiceConfig } from '../platform/config.ts';
import { openDatabase, type Database } from '../platform/db.ts';
import { createLogger } from '../platform/logger.ts';
import { parseInput, z } from '../platform/validation.ts';
import { entities } from '../subgraphs/accounts/entities.ts';
import { migrations } from '../subgraphs/accounts/migrations.ts';
import { PasswordHasher } from '../subgraphs/accounts/passwords.ts';
import { createUser } from '../subgraphs/accounts/service.ts';
import { nameSchema, passwordSchema, phoneSchema } from '../subgraphs/accounts/validation.ts';
import { fileURLToPath } from 'node:url';

const adminInputSchema = z.object({ phone: phoneSchema, name: nameSchema, password: passwordSchema });

export interface AdminInput {
  phone: string;
  name: string;
  password: string;
}

/** Opens the accounts database named by the configuration and creates the admin there. */
export async function createAdmin(config: ServiceConfig, input: AdminInput) {
  const logger = createLogger(config);
  const db = await openDatabase({ schema: 'accounts', entities, migrations, databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  try {
    return await createAdminIn(db, input);
  } finally {
    await db.close();
  }
}

/** Creates the admin in an open accounts database (also how tests make admins on a running stack). */
export async function createAdminIn(db: Database, input: AdminInput) {
  const admin = parseInput(adminInputSchema, input);
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
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
