import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { AppError } from './errors.ts';
import { LRUCache } from 'lru-cache';

/** The roles a user (an access token) can hold; stored by accounts. */
export const ROLES = ['RIDER', 'DRIVER', 'ADMIN', 'PARTNER'] as const;
export type UserRole = (typeof ROLES)[number];
/**
 * SERVICE is internal: only a valid service token (platform/service-auth.ts) yields it. It is not in
 * ROLES, so accounts cannot store it and an access token claiming it is rejected.
 */
export type Role = UserRole | 'SERVICE';

/** The verified caller of a request. Anonymous callers have no principal at all. */
export interface Principal {
  readonly userId: string;
  readonly role: Role;
  /** For role SERVICE: the calling subgraph. */
  readonly service?: string;
}

export const ACCESS_TOKEN_ALGORITHM = 'ES256';

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** Fetched and cached; refetched when a token names an unknown `kid` (at most every 30 s). */
  jwksUrl?: string;
  /** A key set held in process (the accounts service verifies with its own keys). */
  jwks?: JSONWebKeySet;
}

export type TokenVerifier = (token: string) => Promise<Principal>;

/** Verifies access tokens against the JWKS, remembering each verified token until it expires. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  return cachingVerifier(createSignatureVerifier(options));
}

function createSignatureVerifier(options: TokenVerifierOptions): TokenVerifier {
  let keys: JWTVerifyGetKey;
  if (options.jwks) keys = createLocalJWKSet(options.jwks);
  else if (options.jwksUrl) keys = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 });
  else throw new Error('createTokenVerifier needs jwksUrl or jwks');

  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: [ACCESS_TOKEN_ALGORITHM],
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      const role = payload.role;
      if (typeof payload.sub !== 'string' || !ROLES.includes(role as UserRole)) throw new AppError('UNAUTHENTICATED', 'The access token has invalid claims.');
      return Object.freeze({ userId: payload.sub, role: role as UserRole });
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new AppError('UNAUTHENTICATED', 'The access token has expired.', { reason: 'TOKEN_EXPIRED' });
      if (error instanceof joseErrors.JOSEError) throw new AppError('UNAUTHENTICATED', 'The access token is invalid.', { reason: 'TOKEN_INVALID' });
      throw error;
    }
  };
}

/**
 * Reads `Authorization: Bearer <token>`. No header means an anonymous caller (undefined); a header
 * that is present but malformed or invalid is an UNAUTHENTICATED error, never silently anonymous.
 */
export async function principalFromAuthorization(header: string | undefined | null, verify: TokenVerifier): Promise<Principal | undefined> {
  if (header === undefined || header === null || header === '') return undefined;
  const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(header.trim());
  if (!match) throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <token>".', { reason: 'TOKEN_INVALID' });
  return verify(match[1]);
}

/**
 * Remembers verified access tokens until they expire. A driver app sends the same token with every
 * location (one every few seconds for its 15 minutes), and an ES256 signature check costs more than
 * the rest of the update; the result of checking one exact token string never changes, except by
 * expiring, which is checked on every hit. Failures are not cached. Bounded: the least recently used go.
 */
export function cachingVerifier(verify: TokenVerifier, options: { maxEntries?: number; now?: () => number } = {}): TokenVerifier {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const cache = new LRUCache<string, { principal: Principal; expiresAt: number }>({ max: maxEntries });
  return async (token) => {
    const hit = cache.get(token);
    if (hit && hit.expiresAt > now()) return hit.principal;
    if (hit) cache.delete(token);
    const principal = await verify(token); // throws UNAUTHENTICATED (expired, forged, ...)
    const expiresAt = expiryOf(token);
    if (expiresAt !== null) {
      cache.set(token, { principal, expiresAt });
    }
    return principal;
  };
}

/** The `exp` claim (ms) of a token whose signature was just verified. */
function expiryOf(token: string): number | null {
  try {
    const exp = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}
