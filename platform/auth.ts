import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { AppError } from './errors.ts';

export const ROLES = ['RIDER', 'DRIVER', 'ADMIN', 'PARTNER'] as const;
export type Role = (typeof ROLES)[number];

/** The verified caller of a request. Anonymous callers have no principal at all. */
export interface Principal {
  readonly userId: string;
  readonly role: Role;
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

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
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
      if (typeof payload.sub !== 'string' || !ROLES.includes(role as Role)) throw new AppError('UNAUTHENTICATED', 'The access token has invalid claims.');
      return Object.freeze({ userId: payload.sub, role: role as Role });
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
