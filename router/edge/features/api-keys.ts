/**
 * Partners' API keys at the edge, on every way in: `x-api-key: <key>` or `Authorization: ApiKey <key>`
 * on HTTP (a WebSocket's upgrade request included), `{ "x-api-key": <key> }` or
 * `{ "authorization": "ApiKey <key>" }` in graphql-ws connectionParams (`wsAuthorization`). A key makes
 * the caller the PARTNER principal `{ userId: <partner organisation id>, role: 'PARTNER' }`; any other
 * credential is left to the authentication feature this one wraps (it replaces authentication in the
 * feature list, so a key is never also read as a Bearer token).
 *
 * The router does not read keys itself: accounts exchanges a key (`exchangeApiKey`, router-only, called
 * with the router's service token) for a grant: a PARTNER access token of at most 5 minutes, signed like
 * every access token, and the key's limits. Subgraphs are sent `Authorization: Bearer <that token>`
 * (`forwardedAuthorization`), so each verifies it as usual and never sees the key. Grants are cached per
 * key (by its SHA-256), bounded, until `maxCacheMs` (a minute) or shortly before the token expires,
 * whichever is first: a revoked key keeps working on a router for at most that long, and a key ended by
 * rotation stops at its end (a grant never outlives its key). A refused key is remembered for a few
 * seconds, so a client repeating a bad key costs accounts one call, not one per request. Concurrent
 * requests with one key share one exchange.
 *
 * An unknown, revoked, ended or malformed key, two credentials at once, or an empty one: UNAUTHENTICATED
 * with one message that never says which (HTTP 401, graphql-ws close 4401). Accounts not answering:
 * SERVICE_UNAVAILABLE (the key is not refused). What it notes on the connection (`API_KEY_STATE`) is for
 * the rate limits (`apiKeyBudget`) and the persisted operations (`operations`).
 */
import type { Principal } from '../../../platform/auth.ts';
import { parseApiKey, hashApiKey } from '../../../platform/api-keys.ts';
import type { ServiceConfig } from '../../../platform/config.ts';
import { AppError } from '../../../platform/errors.ts';
import type { Logger } from '../../../platform/logger.ts';
import { createServiceClient } from '../../../platform/service-client.ts';
import { EdgeRefusal, type EdgeConnection, type EdgeFeature, type EdgeRequest } from '../types.ts';
import type { ApiKeyBudget } from './rate-limits.ts';
import { LRUCache } from 'lru-cache';

/** Where the key's grant is noted on the connection: an `ApiKeyState`. */
export const API_KEY_STATE = 'api-key';
/** Where the credential to forward to subgraphs is noted (read it with `forwardedAuthorization`). */
export const FORWARD_AUTHORIZATION_STATE = 'api-key:forward-authorization';
/** The one refusal message for every key that does not work. */
export const API_KEY_REFUSAL_MESSAGE = 'The API key is not valid.';

export interface ApiKeyState {
  readonly keyId: string;
  readonly partnerId: string;
  /** Manifest operation names the key may run; empty: none yet. */
  readonly operations: readonly string[];
  readonly requestsPerMinute: number;
}

export interface ApiKeyGrant extends ApiKeyState {
  /** A PARTNER access token (ES256 JWT) for the partner organisation. */
  readonly accessToken: string;
  /** When the token expires (ms). */
  readonly expiresAt: number;
}

/** The key's grant; null when accounts refuses the key; throws when accounts cannot answer. */
export type ApiKeyExchange = (key: string) => Promise<ApiKeyGrant | null>;

export interface ApiKeysOptions {
  /** The Bearer-token authentication (authenticationFeature(verify)): every caller without a key goes there. */
  authentication: EdgeFeature;
  exchange: ApiKeyExchange;
  logger?: Logger;
  now?: () => number;
  /** Longest a grant is used without asking accounts again (default 60 s): how long a revoked key may still work. */
  maxCacheMs?: number;
  /** A grant is renewed this long before its token expires (default 30 s). */
  renewBeforeMs?: number;
  /** How long a refused key is refused without asking accounts (default 5 s). */
  refusedCacheMs?: number;
  /** Most keys remembered (default 10,000; the oldest go first). */
  maxEntries?: number;
}

export interface ApiKeysFeature extends EdgeFeature {
  connect(connection: EdgeConnection): Promise<void>;
  request(request: EdgeRequest): void;
  /** Forgets the cached grants of a key (all keys when none is named): the next request asks accounts. */
  invalidate(keyId?: string): void;
  readonly stats: { exchanges: number; cacheHits: number; refusals: number };
}

/** The credential of a graphql-ws connection_init's params, as the edge connection's `authorization`. */
export function wsAuthorization(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const authorization = params?.authorization ?? params?.Authorization;
  const key = params?.['x-api-key'];
  if (key !== undefined && key !== null) {
    // Two credentials, or a key that is not a string: an empty key, refused like any bad key.
    if ((typeof authorization === 'string' && authorization !== '') || typeof key !== 'string') return 'ApiKey ';
    return `ApiKey ${key}`;
  }
  return typeof authorization === 'string' && authorization !== '' ? authorization : undefined;
}

/** What the router sends subgraphs as `Authorization`: the key's minted Bearer token, or the caller's own header. */
export function forwardedAuthorization(connection: EdgeConnection): string | undefined {
  return (connection.state.get(FORWARD_AUTHORIZATION_STATE) as string | undefined) ?? connection.authorization;
}

/** The key's grant noted on the connection, if the caller presented a key. */
export function apiKeyOf(connection: EdgeConnection): ApiKeyState | undefined {
  return connection.state.get(API_KEY_STATE) as ApiKeyState | undefined;
}

/** For rateLimitsFeature({ apiKeyBudget }): a partner's operations are charged to its key's budget. */
export const apiKeyBudget: ApiKeyBudget = (request) => {
  const key = apiKeyOf(request.connection);
  return key ? { keyId: key.keyId, pointsPerMinute: key.requestsPerMinute } : undefined;
};

const API_KEY_AUTHORIZATION = /^ApiKey(?:\s+(\S*))?$/i;

/** The key presented (possibly empty or malformed), or undefined when the caller presented none. */
function presentedKey(connection: EdgeConnection): string | undefined {
  const header = connection.headers['x-api-key'];
  const authorization = connection.authorization?.trim();
  if (header !== undefined) {
    if (typeof header !== 'string' || authorization) return ''; // several keys, or a key and another credential
    return header.trim();
  }
  if (!authorization) return undefined;
  const match = API_KEY_AUTHORIZATION.exec(authorization);
  return match ? (match[1] ?? '') : undefined;
}

const refused = () => new EdgeRefusal('UNAUTHENTICATED', API_KEY_REFUSAL_MESSAGE, { extensions: { reason: 'API_KEY_INVALID' } });

export function apiKeysFeature(options: ApiKeysOptions): ApiKeysFeature {
  const now = options.now ?? Date.now;
  const maxCacheMs = options.maxCacheMs ?? 60_000;
  const renewBeforeMs = options.renewBeforeMs ?? 30_000;
  const refusedCacheMs = options.refusedCacheMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 10_000;
  /** By the key's SHA-256 (no key kept in memory): a grant until `freshUntil`, or null (refused) until then. */
  const cache = new LRUCache<string, { grant: ApiKeyGrant | null; freshUntil: number }>({ max: maxEntries });
  const inFlight = new Map<string, Promise<ApiKeyGrant | null>>();
  const stats = { exchanges: 0, cacheHits: 0, refusals: 0 };
  const remember = (hash: string, grant: ApiKeyGrant | null, freshUntil: number) => {
    cache.set(hash, { grant, freshUntil });
  };

  async function grantFor(key: string): Promise<ApiKeyGrant | null> {
    const hash = hashApiKey(key);
    const hit = cache.get(hash);
    if (hit && hit.freshUntil > now() && (!hit.grant || hit.grant.expiresAt > now())) {
      stats.cacheHits += 1;
      return hit.grant;
    }
    if (hit) cache.delete(hash);
    let pending = inFlight.get(hash);
    if (!pending) {
      stats.exchanges += 1;
      pending = options.exchange(key).then(
        (grant) => {
          inFlight.delete(hash);
          const at = now();
          if (!grant) remember(hash, null, at + refusedCacheMs);
          // A grant about to expire (a key in the last seconds of its overlap) serves this request only.
          else if (grant.expiresAt - renewBeforeMs > at) remember(hash, grant, Math.min(at + maxCacheMs, grant.expiresAt - renewBeforeMs));
          return grant;
        },
        (error: unknown) => {
          inFlight.delete(hash);
          throw error;
        },
      );
      inFlight.set(hash, pending);
    }
    return pending;
  }

  return {
    name: 'api-keys',
    stats,
    async connect(connection) {
      if (connection.state.has(API_KEY_STATE)) return; // already exchanged for this connection
      const key = presentedKey(connection);
      if (key === undefined) {
        await options.authentication.connect?.(connection);
        return;
      }
      // The shape first: a malformed key costs no call.
      const parsed = parseApiKey(key);
      if (!parsed) {
        stats.refusals += 1;
        throw refused();
      }
      let grant: ApiKeyGrant | null;
      try {
        grant = await grantFor(parsed.key);
      } catch (error) {
        options.logger?.warn({ err: error }, 'API key exchange failed');
        throw new EdgeRefusal('SERVICE_UNAVAILABLE', 'API keys cannot be checked right now; try again shortly.', { extensions: { reason: 'API_KEY_EXCHANGE_UNAVAILABLE' } });
      }
      if (!grant || grant.expiresAt <= now()) {
        stats.refusals += 1;
        throw refused();
      }
      const principal: Principal = Object.freeze({ userId: grant.partnerId, role: 'PARTNER' as const });
      connection.principal = principal;
      connection.state.set(FORWARD_AUTHORIZATION_STATE, `Bearer ${grant.accessToken}`);
      connection.state.set(API_KEY_STATE, Object.freeze({ keyId: grant.keyId, partnerId: grant.partnerId, operations: grant.operations, requestsPerMinute: grant.requestsPerMinute }) satisfies ApiKeyState);
    },
    request(request) {
      // The HTTP fast path forwards the request's own Authorization header, not the key's token: the gateway answers partners.
      if (request.path === 'fast' && request.connection.state.has(API_KEY_STATE)) request.path = 'gateway';
    },
    invalidate(keyId) {
      if (keyId === undefined) cache.clear();
      else for (const [hash, entry] of cache) if (entry.grant?.keyId === keyId) cache.delete(hash);
    },
  };
}

const EXCHANGE = `mutation ExchangeApiKey($key: String!) { exchangeApiKey(key: $key) { accessToken expiresAt keyId partnerId operations requestsPerMinute } }`;

/**
 * The exchange over accounts' `exchangeApiKey`, called directly (never through the router's API, where
 * the field does not exist) with the router's service token. `url` is read at every call (the router's
 * supergraph: `() => supergraph.current().urls.accounts`).
 */
export function accountsApiKeyExchange(options: { config: ServiceConfig; logger: Logger; url?: () => string | undefined; timeoutMs?: number }): ApiKeyExchange {
  const client = createServiceClient({ caller: 'router', target: 'accounts', config: options.config, logger: options.logger, url: options.url, timeoutMs: options.timeoutMs ?? 2_000 });
  return async (key) => {
    try {
      const { exchangeApiKey: grant } = await client.request<{ exchangeApiKey: Omit<ApiKeyGrant, 'expiresAt'> & { expiresAt: string } }>(EXCHANGE, { key });
      return { ...grant, operations: Object.freeze([...grant.operations]), expiresAt: new Date(grant.expiresAt).getTime() };
    } catch (error) {
      if (error instanceof AppError && error.code === 'UNAUTHENTICATED') return null;
      throw error;
    }
  };
}
