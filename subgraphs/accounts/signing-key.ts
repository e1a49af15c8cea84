import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';
import { ACCESS_TOKEN_ALGORITHM, type Principal } from '../../platform/auth.ts';
import type { ServiceConfig } from '../../platform/config.ts';
import type { Logger } from '../../platform/logger.ts';

/** The accounts service's ES256 key: signs access tokens, and its public half is the JWKS. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwks: JSONWebKeySet;
}

/**
 * JWT_PRIVATE_KEY (PKCS#8 PEM) when given. Outside production, a key is generated on first start
 * and kept under DATA_DIR/keys (never committed), so tokens survive restarts.
 */
export async function loadSigningKey(config: ServiceConfig, logger: Logger): Promise<SigningKey> {
  let pem = config.jwt.privateKeyPem;
  if (!pem) {
    if (config.production) throw new Error('JWT_PRIVATE_KEY is required in production');
    const file = path.resolve(config.dataDir, 'keys', 'accounts-es256.pem');
    if (existsSync(file)) pem = readFileSync(file, 'utf8');
    else {
      const { privateKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM, { extractable: true });
      pem = await exportPKCS8(privateKey);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, pem, { mode: 0o600 });
      logger.info({ file }, 'generated a development signing key');
    }
  }
  const privateKey = await importPKCS8(pem.replace(/\\n/g, '\n'), ACCESS_TOKEN_ALGORITHM, { extractable: true });
  const { d: _private, ...publicJwk } = await exportJWK(privateKey);
  const kid = config.jwt.keyId ?? (await calculateJwkThumbprint(publicJwk));
  return { kid, privateKey, jwks: { keys: [{ ...publicJwk, kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' }] } };
}

export interface AccessToken {
  token: string;
  expiresAt: Date;
}

export async function signAccessToken(key: SigningKey, principal: Principal, options: { issuer: string; audience: string; ttlSeconds: number }): Promise<AccessToken> {
  const issuedAt = Math.floor(Date.now() / 1000);
  const expiresAt = new Date((issuedAt + options.ttlSeconds) * 1000);
  const token = await new SignJWT({ role: principal.role })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setSubject(principal.userId)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key.privateKey);
  return { token, expiresAt };
}
