import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A partner's API key: `slk_<prefix>_<secret>`. The prefix (12 hex digits) is public: it finds the key's
 * row and names the key in lists and logs. The secret (32 random bytes, base64url) is never stored: accounts
 * keeps the SHA-256 of the whole key and compares in constant time. The router checks the shape before
 * asking accounts, so a malformed key costs no call.
 */
export const API_KEY_PATTERN = /^slk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface ParsedApiKey {
  readonly prefix: string;
  readonly key: string;
}

/** The key's parts when it has the shape of a key; null otherwise. */
export function parseApiKey(key: unknown): ParsedApiKey | null {
  if (typeof key !== 'string' || key.length > 80) return null;
  const match = API_KEY_PATTERN.exec(key);
  return match ? { prefix: match[1], key } : null;
}

/** A new key and its prefix. */
export function generateApiKey(): ParsedApiKey {
  const prefix = randomBytes(6).toString('hex');
  return { prefix, key: `slk_${prefix}_${randomBytes(32).toString('base64url')}` };
}

/** What is stored: SHA-256 of the whole key, hex. */
export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Constant-time comparison of a presented key with a stored hash. */
export function apiKeyMatches(key: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = Buffer.from(hashApiKey(key), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
