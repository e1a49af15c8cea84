import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ServiceConfig } from './config.ts';
import type { Logger } from './logger.ts';

/**
 * A shared secret from the environment, or, outside production, one generated once under
 * DATA_DIR/keys/<file> so every process of one checkout (embedded or several `npm run service`)
 * agrees on it without configuration. Production refuses to start without the variable.
 */
export function loadOrCreateSecret(
  config: Pick<ServiceConfig, 'production' | 'dataDir'>,
  logger: Logger,
  secret: { value: string | undefined; variable: string; file: string; description: string },
): string {
  if (secret.value) return secret.value;
  if (config.production) throw new Error(`${secret.variable} is required in production`);
  const file = path.resolve(config.dataDir, 'keys', secret.file);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const generated = randomBytes(32).toString('base64url');
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, generated, { mode: 0o600, flag: 'wx' });
    logger.info({ file }, `generated a development ${secret.description}`);
    return generated;
  } catch {
    return readFileSync(file, 'utf8').trim(); // another process of this checkout wrote it first
  }
}
