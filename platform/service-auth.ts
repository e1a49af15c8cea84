import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Principal } from './auth.ts';
import { SERVICE_NAMES, type ServiceConfig, type ServiceName, type SubgraphName } from './config.ts';
import { AppError } from './errors.ts';
import type { Logger } from './logger.ts';
import { loadOrCreateSecret } from './secrets.ts';

/**
 * Subgraph-to-subgraph calls carry `x-smartline-service: <caller>.<target>.<expiresAtMs>.<mac>`:
 * an HMAC-SHA256 over the first three parts with SERVICE_TOKEN_SECRET. Short-lived (a minute) and
 * bound to its target, so a token seen by one subgraph cannot be replayed against another.
 * The router never forwards this header from clients (it forwards an allow-list of headers only).
 * The router is a caller too (never a target): it exchanges partners' API keys with accounts
 * (router/edge/features/api-keys.ts); fields meant for it alone check `service === 'router'`.
 */
export const SERVICE_TOKEN_HEADER = 'x-smartline-service';
export const SERVICE_TOKEN_TTL_MS = 60_000;

/** SERVICE_TOKEN_SECRET, or outside production one generated once under DATA_DIR/keys (shared by every subgraph of the checkout). */
export function loadServiceTokenSecret(config: Pick<ServiceConfig, 'production' | 'dataDir' | 'serviceTokenSecret'>, logger: Logger): string {
  return loadOrCreateSecret(config, logger, { value: config.serviceTokenSecret, variable: 'SERVICE_TOKEN_SECRET', file: 'service-token.secret', description: 'service token secret' });
}

export function mintServiceToken(options: { caller: ServiceName; target: SubgraphName; secret: string; now?: number; ttlMs?: number }): string {
  const expiresAt = (options.now ?? Date.now()) + (options.ttlMs ?? SERVICE_TOKEN_TTL_MS);
  const payload = `${options.caller}.${options.target}.${expiresAt}`;
  return `${payload}.${mac(payload, options.secret)}`;
}

/**
 * The calling service when the token is ours, meant for `target` and unexpired; otherwise an
 * UNAUTHENTICATED error (with a reason, never which part failed beyond that).
 */
export function verifyServiceToken(token: string, options: { target: SubgraphName; secret: string; now?: number }): ServiceName {
  const parts = token.split('.');
  if (parts.length !== 4) throw invalid('TOKEN_INVALID');
  const [caller, target, expiresAtText, signature] = parts;
  const expected = Buffer.from(mac(`${caller}.${target}.${expiresAtText}`, options.secret), 'base64url');
  const actual = Buffer.from(signature, 'base64url');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) throw invalid('TOKEN_INVALID');
  if (!isServiceName(caller) || target !== options.target) throw invalid('TOKEN_INVALID');
  const expiresAt = Number(expiresAtText);
  const now = options.now ?? Date.now();
  if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) throw invalid('TOKEN_EXPIRED');
  // A token living longer than we ever mint was not minted by a well-behaved peer.
  if (expiresAt > now + 2 * SERVICE_TOKEN_TTL_MS) throw invalid('TOKEN_INVALID');
  return caller;
}

/** The principal of a verified service caller: role SERVICE, which no access token can carry. */
export function servicePrincipal(caller: ServiceName): Principal {
  return Object.freeze({ userId: `service:${caller}`, role: 'SERVICE' as const, service: caller });
}

/**
 * Reads the service header of a request: absent → undefined (an ordinary caller); present → the
 * SERVICE principal, or UNAUTHENTICATED for a bad token (never silently anonymous).
 */
export function principalFromServiceHeader(header: string | string[] | undefined, options: { target: SubgraphName; secret: string }): Principal | undefined {
  if (header === undefined || header === '') return undefined;
  if (Array.isArray(header)) throw invalid('TOKEN_INVALID');
  return servicePrincipal(verifyServiceToken(header.trim(), options));
}

const mac = (payload: string, secret: string) => createHmac('sha256', secret).update(payload).digest('base64url');

const isServiceName = (name: string): name is ServiceName => (SERVICE_NAMES as readonly string[]).includes(name);

const invalid = (reason: 'TOKEN_INVALID' | 'TOKEN_EXPIRED') =>
  new AppError('UNAUTHENTICATED', reason === 'TOKEN_EXPIRED' ? 'The service token has expired.' : 'The service token is invalid.', { reason });
