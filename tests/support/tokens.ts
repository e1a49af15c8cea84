import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import type { Stack, TestUser } from './stack.ts';
import { loadSigningKey, signAccessToken } from '../../subgraphs/accounts/signing-key.ts';
import { createLogger } from '../../platform/logger.ts';

/** Forged and broken access tokens, for proving that every edge rejects them. */
export async function forgedTokens(stack: Stack, victim: { id: string; accessToken: string }) {
  const config = stack.config('accounts');
  const realKey = await loadSigningKey(config, createLogger(config));
  const claims = { role: 'ADMIN' };
  const base = (builder: SignJWT) => builder.setSubject(victim.id).setIssuer(config.jwt.issuer).setAudience(config.jwt.audience);

  const expired = await base(new SignJWT({ role: 'RIDER' }))
    .setProtectedHeader({ alg: 'ES256', kid: realKey.kid })
    .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(realKey.privateKey);

  const { privateKey: otherKey } = await generateKeyPair('ES256');
  const wrongKey = await base(new SignJWT(claims)).setProtectedHeader({ alg: 'ES256', kid: realKey.kid }).setIssuedAt().setExpirationTime('10m').sign(otherKey);

  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub: victim.id, role: 'ADMIN', iss: config.jwt.issuer, aud: config.jwt.audience, iat: now, exp: now + 600 };
  const algNone = `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;

  const [header, body, signature] = victim.accessToken.split('.');
  const decoded = JSON.parse(Buffer.from(body, 'base64url').toString());
  const tampered = `${header}.${encode({ ...decoded, role: 'ADMIN' })}.${signature}`;

  const hmacWithPublicKey = await base(new SignJWT(claims))
    .setProtectedHeader({ alg: 'HS256', kid: realKey.kid })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JSON.stringify(realKey.jwks.keys[0])));

  const wrongAudience = await new SignJWT({ role: 'RIDER' })
    .setSubject(victim.id)
    .setIssuer(config.jwt.issuer)
    .setAudience('someone-else')
    .setProtectedHeader({ alg: 'ES256', kid: realKey.kid })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(realKey.privateKey);

  return { expired, wrongKey, algNone, tampered, hmacWithPublicKey, wrongAudience, garbage: 'not-a-jwt' };
}

/** A PARTNER access token of a new organisation, signed with accounts' key (what the router mints from an API key). */
export async function partnerUser(stack: Stack): Promise<TestUser> {
  const config = stack.config('accounts');
  const key = await loadSigningKey(config, createLogger(config));
  const id = randomUUID();
  const { token } = await signAccessToken(key, { userId: id, role: 'PARTNER' }, { issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 900 });
  return { id, phone: '', name: 'Partner', role: 'ADMIN' as never, password: '', accessToken: token, refreshToken: '' };
}
