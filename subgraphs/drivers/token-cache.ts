import type { Principal, TokenVerifier } from '../../platform/auth.ts';

/**
 * Remembers verified access tokens until they expire. A driver app sends the same token with every
 * location (one every few seconds for its 15 minutes), and an ES256 signature check costs more than
 * the rest of the update; the result of checking one exact token string never changes, except by
 * expiring, which is checked on every hit. Failures are not cached. Bounded: the oldest entries go.
 */
export function cachingVerifier(verify: TokenVerifier, options: { maxEntries?: number; now?: () => number } = {}): TokenVerifier {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { principal: Principal; expiresAt: number }>();
  return async (token) => {
    const hit = cache.get(token);
    if (hit && hit.expiresAt > now()) return hit.principal;
    if (hit) cache.delete(token);
    const principal = await verify(token); // throws UNAUTHENTICATED (expired, forged, ...)
    const expiresAt = expiryOf(token);
    if (expiresAt !== null) {
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
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
