import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** What production requires besides DATABASE_URL: a fresh ES256 signing key and random secrets. */
export function productionSecrets(): Record<'JWT_PRIVATE_KEY' | 'QUOTE_SIGNING_SECRET' | 'SERVICE_TOKEN_SECRET', string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    QUOTE_SIGNING_SECRET: randomBytes(32).toString('base64url'),
    SERVICE_TOKEN_SECRET: randomBytes(32).toString('base64url'),
  };
}
