import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type ServiceConfig } from '../../platform/config.ts';
import { AppError } from '../../platform/errors.ts';
import { createLogger } from '../../platform/logger.ts';
import { loadServiceTokenSecret, mintServiceToken, SERVICE_TOKEN_HEADER, SERVICE_TOKEN_TTL_MS, verifyServiceToken } from '../../platform/service-auth.ts';
import { createServiceClient } from '../../platform/service-client.ts';
import { startSubgraph, type RunningSubgraph } from '../../platform/subgraph.ts';
import { loadSigningKey, signAccessToken } from '../../subgraphs/accounts/signing-key.ts';
import { assertErrorCode, dataOf, graphql } from '../support/client.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';
import { INTERNAL, internalSubgraph } from '../fixtures/internal/index.ts';

const secret = randomBytes(32).toString('base64url');

describe('service tokens', () => {
  const now = Date.parse('2026-11-22T08:00:00Z');

  it('name the calling subgraph when minted with our secret for this target', () => {
    const token = mintServiceToken({ caller: 'trips', target: 'drivers', secret, now });
    assert.equal(verifyServiceToken(token, { target: 'drivers', secret, now: now + SERVICE_TOKEN_TTL_MS - 1 }), 'trips');
  });

  const rejects = (token: string, reason: string, options: { target?: 'drivers' | 'wallet'; secret?: string; now?: number } = {}) =>
    assert.throws(
      () => verifyServiceToken(token, { target: options.target ?? 'drivers', secret: options.secret ?? secret, now: options.now ?? now }),
      (error: unknown) => error instanceof AppError && error.code === 'UNAUTHENTICATED' && error.extensions.reason === reason,
    );

  it('are refused once expired', () => rejects(mintServiceToken({ caller: 'trips', target: 'drivers', secret, now }), 'TOKEN_EXPIRED', { now: now + SERVICE_TOKEN_TTL_MS }));

  it('are refused when tampered with (another caller, a longer life)', () => {
    const [, target, expiresAt, mac] = mintServiceToken({ caller: 'trips', target: 'drivers', secret, now }).split('.');
    rejects(`wallet.${target}.${expiresAt}.${mac}`, 'TOKEN_INVALID');
    rejects(`trips.${target}.${Number(expiresAt) + 3_600_000}.${mac}`, 'TOKEN_INVALID');
  });

  it('are refused when signed with another secret', () => rejects(mintServiceToken({ caller: 'trips', target: 'drivers', secret: randomBytes(32).toString('base64url'), now }), 'TOKEN_INVALID'));

  it('are refused by any subgraph but their target', () => rejects(mintServiceToken({ caller: 'trips', target: 'drivers', secret, now }), 'TOKEN_INVALID', { target: 'wallet' }));

  it('are refused when they would live longer than any token we mint', () => rejects(mintServiceToken({ caller: 'trips', target: 'drivers', secret, now, ttlMs: 10 * SERVICE_TOKEN_TTL_MS }), 'TOKEN_INVALID'));

  it('are refused when malformed or naming an unknown service', () => {
    rejects('not-a-token', 'TOKEN_INVALID');
    rejects(mintServiceToken({ caller: 'billing' as 'trips', target: 'drivers', secret, now }), 'TOKEN_INVALID');
  });
});

describe('service-only fields on a subgraph', () => {
  let stack: Stack;
  let internal: RunningSubgraph;
  let config: ServiceConfig;
  let rider: TestUser;
  const ask = (query: string, headers: Record<string, string> = {}, token?: string) => graphql(internal.url, query, undefined, { headers, token });
  const mint = (options: { target?: string; now?: number; secret?: string } = {}) =>
    mintServiceToken({ caller: 'trips', target: (options.target ?? INTERNAL) as 'drivers', secret: options.secret ?? loadServiceTokenSecret(config, createLogger(config)), now: options.now });

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
    rider = await stack.signUp('RIDER');
    // No SERVICE_TOKEN_SECRET: the development secret generated under DATA_DIR is shared by caller and callee.
    config = Object.freeze({ ...loadConfig('wallet', stack.env), service: INTERNAL, subgraphUrls: {} as Record<string, string> });
    internal = await startSubgraph(internalSubgraph, config, { logger: createLogger(config) });
    (config.subgraphUrls as Record<string, string>)[INTERNAL] = internal.url;
  });
  after(async () => {
    await internal?.stop();
    await stack?.stop();
  });

  it('serves another subgraph calling with a valid service token as role SERVICE', async () => {
    const client = createServiceClient({ caller: 'trips', target: INTERNAL, config, logger: createLogger(config) });
    const data = await client.request<{ internalCaller: { userId: string; role: string } }>(`{ internalCaller { userId role } }`);
    assert.deepEqual(data.internalCaller, { userId: 'service:trips', role: 'SERVICE' });
  });

  it('denies the service-only field to a caller without a service token', async () => {
    assertErrorCode(await ask(`{ internalCaller { userId } }`), 'UNAUTHENTICATED');
  });

  it('never makes a client access token a service: a rider is FORBIDDEN and stays a RIDER', async () => {
    assertErrorCode(await ask(`{ internalCaller { userId } }`, {}, rider.accessToken), 'FORBIDDEN');
    assert.deepEqual(dataOf(await ask(`{ caller { userId role } }`, {}, rider.accessToken)).caller, { userId: rider.id, role: 'RIDER' });
  });

  it('rejects an access token that claims role SERVICE, even one signed with the real key', async () => {
    const accounts = stack.config('accounts');
    const key = await loadSigningKey(accounts, createLogger(accounts));
    const forged = await signAccessToken(key, { userId: rider.id, role: 'SERVICE' }, { issuer: accounts.jwt.issuer, audience: accounts.jwt.audience, ttlSeconds: 60 });
    const result = await ask(`{ caller { role } }`, {}, forged.token);
    assert.equal(result.status, 401);
    assertErrorCode(result, 'UNAUTHENTICATED');
  });

  for (const [what, token] of [
    ['an expired', () => mint({ now: Date.now() - SERVICE_TOKEN_TTL_MS - 1 })],
    ['a tampered', () => mint().replace(/^trips\./, 'wallet.')],
    ['a wrong-secret', () => mint({ secret: randomBytes(32).toString('base64url') })],
    ['another target\'s', () => mint({ target: 'drivers' })],
  ] as const) {
    it(`answers ${what} service token with 401 UNAUTHENTICATED`, async () => {
      const result = await ask(`{ internalCaller { userId } }`, { [SERVICE_TOKEN_HEADER]: token() });
      assert.equal(result.status, 401);
      assertErrorCode(result, 'UNAUTHENTICATED');
      assert.equal(result.body.data ?? null, null);
    });
  }

  it('re-throws the callee\'s error code in the caller, masking unknown ones', async () => {
    const client = createServiceClient({ caller: 'trips', target: INTERNAL, config, logger: createLogger(config) });
    await assert.rejects(client.request(`{ internalFailure(code: "CONFLICT") }`), (error: unknown) => error instanceof AppError && error.code === 'CONFLICT' && error.extensions.service === INTERNAL);
    await assert.rejects(client.request(`{ internalFailure(code: "SOMETHING_ODD") }`), (error: unknown) => error instanceof AppError && error.code === 'INTERNAL_SERVER_ERROR');
  });

  it('reports an unreachable callee as SERVICE_UNAVAILABLE', async () => {
    const nowhere = Object.freeze({ ...config, subgraphUrls: { [INTERNAL]: 'http://127.0.0.1:1/graphql' } });
    const client = createServiceClient({ caller: 'trips', target: INTERNAL, config: nowhere, logger: createLogger(config) });
    await assert.rejects(client.request(`{ internalCaller { userId } }`), (error: unknown) => error instanceof AppError && error.code === 'SERVICE_UNAVAILABLE');
  });

  it('is not reachable through the router, which drops a client\'s service header', async () => {
    // Were the header forwarded, accounts would refuse this garbage token with 401.
    const result = await stack.query(`{ me { id role } }`, undefined, { token: rider.accessToken, headers: { [SERVICE_TOKEN_HEADER]: 'trips.accounts.9999999999999.forged' } });
    assert.deepEqual(dataOf(result).me, { id: rider.id, role: 'RIDER' });
  });
});
