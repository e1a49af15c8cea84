/**
 * The api-keys edge feature in an edge pipeline, against accounts on real servers (the exchange over
 * accounts' `exchangeApiKey` with the router's service token): connections as router/edge/http.ts and
 * router/subscriptions/ws.ts build them, for an HTTP `x-api-key`, an HTTP `Authorization: ApiKey`, and
 * graphql-ws connectionParams. The router's own wiring (router.ts, ws.ts) is not in place yet.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTokenVerifier, type TokenVerifier } from '../../platform/auth.ts';
import { pino } from 'pino';
import { JWKS_PATH } from '../../subgraphs/accounts/index.ts';
import { authenticationFeature } from '../../router/edge/features/authentication.ts';
import {
  accountsApiKeyExchange,
  API_KEY_REFUSAL_MESSAGE,
  API_KEY_STATE,
  apiKeyBudget,
  apiKeysFeature,
  forwardedAuthorization,
  wsAuthorization,
  type ApiKeyExchange,
} from '../../router/edge/features/api-keys.ts';
import { EdgePipeline } from '../../router/edge/pipeline.ts';
import { EdgeRefusal, type EdgeConnection } from '../../router/edge/types.ts';
import { dataOf } from '../support/client.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

const CREATE_PARTNER = `mutation($input: CreatePartnerInput!) { createPartner(input: $input) { id } }`;
const CREATE_KEY = `mutation($partnerId: ID!, $input: CreateApiKeyInput!) { createApiKey(partnerId: $partnerId, input: $input) { key apiKey { id } } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`;

describe('API keys at the edge', () => {
  let stack: Stack;
  let admin: TestUser;
  let rider: TestUser;
  let verify: TokenVerifier;
  let exchange: ApiKeyExchange;
  let partnerId: string;
  let key: { key: string; apiKey: { id: string } };
  const logger = pino({ level: 'silent' });

  /** A pipeline as router.ts will list it: api-keys in authentication's place. */
  const pipelineWith = (options: Partial<Parameters<typeof apiKeysFeature>[0]> = {}) => {
    const feature = apiKeysFeature({ authentication: authenticationFeature(verify), exchange, logger, ...options });
    const pipeline = new EdgePipeline({ features: [feature], snapshot: () => assert.fail('no operation is parsed here'), maxTokens: 1_000, logger });
    return { feature, pipeline };
  };
  const http = (pipeline: EdgePipeline, headers: Record<string, string>) => pipeline.newConnection({ transport: 'http', ip: '127.0.0.1', headers, authorization: headers.authorization });
  const ws = (pipeline: EdgePipeline, params: Record<string, unknown>) => pipeline.newConnection({ transport: 'ws', ip: '127.0.0.1', headers: {}, authorization: wsAuthorization(params) });
  const newKey = async (requestsPerMinute = 90) =>
    dataOf(await stack.query(CREATE_KEY, { partnerId, input: { name: 'edge', operations: ['PartnerQuote'], requestsPerMinute } }, { token: admin.accessToken })).createApiKey as typeof key;

  async function assertPartner(pipeline: EdgePipeline, connection: EdgeConnection, keyId = key.apiKey.id) {
    await pipeline.connect(connection);
    assert.deepEqual({ ...connection.principal }, { userId: partnerId, role: 'PARTNER' });
    assert.deepEqual(connection.state.get(API_KEY_STATE), { keyId, partnerId, operations: ['PartnerQuote'], requestsPerMinute: 90 });
    // Subgraphs are sent the minted token, which verifies as the same principal; never the key.
    const forwarded = forwardedAuthorization(connection)!;
    assert.match(forwarded, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.deepEqual({ ...(await verify(forwarded.slice('Bearer '.length))) }, { userId: partnerId, role: 'PARTNER' });
  }

  async function assertRefused(pipeline: EdgePipeline, connection: EdgeConnection) {
    await assert.rejects(pipeline.connect(connection), (error: unknown) => {
      assert.ok(error instanceof EdgeRefusal);
      assert.equal(error.code, 'UNAUTHENTICATED');
      assert.equal(error.httpStatus, 401);
      assert.equal(error.message, API_KEY_REFUSAL_MESSAGE);
      return true;
    });
    assert.equal(connection.principal, undefined);
    assert.equal(connection.state.has(API_KEY_STATE), false);
  }

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'], router: true });
    admin = await stack.admin();
    rider = await stack.signUp('RIDER');
    const config = stack.config('router');
    const accountsUrl = stack.subgraph('accounts').url;
    verify = createTokenVerifier({ jwksUrl: new URL(JWKS_PATH, accountsUrl).href, issuer: config.jwt.issuer, audience: config.jwt.audience });
    exchange = accountsApiKeyExchange({ config, logger, url: () => accountsUrl });
    partnerId = dataOf(await stack.query(CREATE_PARTNER, { input: { name: 'Edge Partner' } }, { token: admin.accessToken })).createPartner.id;
    key = await newKey();
  });
  after(() => stack?.stop());

  it('makes an HTTP x-api-key, an HTTP Authorization: ApiKey and graphql-ws connectionParams the PARTNER principal', async () => {
    const { pipeline, feature } = pipelineWith();
    await assertPartner(pipeline, http(pipeline, { 'x-api-key': key.key }));
    await assertPartner(pipeline, http(pipeline, { authorization: `ApiKey ${key.key}` }));
    await assertPartner(pipeline, ws(pipeline, { 'x-api-key': key.key }));
    await assertPartner(pipeline, ws(pipeline, { authorization: `ApiKey ${key.key}` }));
    assert.equal(feature.stats.exchanges, 1, 'one exchange, then the cached grant');
  });

  it("charges the key's budget and sends partners to the gateway, not the fast path", async () => {
    const { pipeline, feature } = pipelineWith();
    const connection = http(pipeline, { 'x-api-key': key.key });
    await pipeline.connect(connection);
    const request = pipeline.newRequest(connection, { query: '{ __typename }' }, 'r1', 'fast');
    feature.request(request);
    assert.equal(request.path, 'gateway');
    assert.deepEqual(apiKeyBudget(request), { keyId: key.apiKey.id, pointsPerMinute: 90 });
    const subscription = pipeline.newRequest(connection, { query: 'subscription { x }' }, 'r2', 'subscription');
    feature.request(subscription);
    assert.equal(subscription.path, 'subscription');
  });

  it('leaves Bearer tokens and anonymous callers to authentication', async () => {
    const { pipeline, feature } = pipelineWith();
    const signedIn = http(pipeline, { authorization: `Bearer ${rider.accessToken}` });
    await pipeline.connect(signedIn);
    assert.deepEqual({ ...signedIn.principal }, { userId: rider.id, role: 'RIDER' });
    assert.equal(forwardedAuthorization(signedIn), `Bearer ${rider.accessToken}`);
    assert.equal(apiKeyBudget(pipeline.newRequest(signedIn, { query: '{ me { id } }' }, 'r', 'fast')), undefined);
    const anonymous = http(pipeline, {});
    await pipeline.connect(anonymous);
    assert.equal(anonymous.principal, undefined);
    const wsRider = ws(pipeline, { authorization: `Bearer ${rider.accessToken}` });
    await pipeline.connect(wsRider);
    assert.equal(wsRider.principal?.role, 'RIDER');
    await assert.rejects(pipeline.connect(http(pipeline, { authorization: 'Bearer forged.token.here' })), { code: 'UNAUTHENTICATED' });
    assert.equal(feature.stats.exchanges, 0);
  });

  it('refuses unknown, revoked and malformed keys, and two credentials at once, with the same message on every path', async () => {
    const { pipeline } = pipelineWith();
    const revoked = await newKey();
    await assertPartner(pipelineWith().pipeline, http(pipeline, { 'x-api-key': revoked.key }), revoked.apiKey.id);
    dataOf(await stack.query(REVOKE, { id: revoked.apiKey.id }, { token: admin.accessToken }));
    const prefix = key.key.split('_')[1];
    const unknown = `slk_${prefix === '0'.repeat(12) ? '1'.repeat(12) : '0'.repeat(12)}_${key.key.slice(`slk_${prefix}_`.length)}`;
    const wrongSecret = `slk_${prefix}_${'A'.repeat(43)}`;
    for (const bad of [revoked.key, unknown, wrongSecret, 'slk_malformed', 'not-a-key', `${key.key}x`]) {
      await assertRefused(pipeline, http(pipeline, { 'x-api-key': bad }));
      await assertRefused(pipeline, http(pipeline, { authorization: `ApiKey ${bad}` }));
      await assertRefused(pipeline, ws(pipeline, { 'x-api-key': bad }));
      await assertRefused(pipeline, ws(pipeline, { authorization: `ApiKey ${bad}` }));
    }
    await assertRefused(pipeline, http(pipeline, { 'x-api-key': '' }));
    await assertRefused(pipeline, http(pipeline, { authorization: 'ApiKey' }));
    await assertRefused(pipeline, http(pipeline, { 'x-api-key': key.key, authorization: `Bearer ${rider.accessToken}` }));
    await assertRefused(pipeline, ws(pipeline, { 'x-api-key': key.key, authorization: `Bearer ${rider.accessToken}` }));
    await assertRefused(pipeline, ws(pipeline, { 'x-api-key': 42 }));
  });

  it('stops accepting a revoked key once its cached grant is older than maxCacheMs', async () => {
    let now = Date.now();
    const { pipeline, feature } = pipelineWith({ now: () => now, maxCacheMs: 60_000 });
    const revoked = await newKey();
    await assertPartner(pipeline, http(pipeline, { 'x-api-key': revoked.key }), revoked.apiKey.id);
    dataOf(await stack.query(REVOKE, { id: revoked.apiKey.id }, { token: admin.accessToken }));
    await assertPartner(pipeline, http(pipeline, { 'x-api-key': revoked.key }), revoked.apiKey.id); // cached: within the minute
    now += 60_001;
    await assertRefused(pipeline, http(pipeline, { 'x-api-key': revoked.key }));
    assert.equal(feature.stats.exchanges, 2);
    // invalidate() drops a key's grant at once (e.g. on a revocation message).
    const other = await newKey();
    await assertPartner(pipeline, http(pipeline, { 'x-api-key': other.key }), other.apiKey.id);
    dataOf(await stack.query(REVOKE, { id: other.apiKey.id }, { token: admin.accessToken }));
    feature.invalidate(other.apiKey.id);
    await assertRefused(pipeline, http(pipeline, { 'x-api-key': other.key }));
  });

  it('shares one exchange among concurrent requests and remembers a refusal briefly', async () => {
    let calls = 0;
    const counting: ApiKeyExchange = async (presented) => {
      calls += 1;
      return exchange(presented);
    };
    const { pipeline } = pipelineWith({ exchange: counting });
    const connections = Array.from({ length: 20 }, () => http(pipeline, { 'x-api-key': key.key }));
    await Promise.all(connections.map((connection) => pipeline.connect(connection)));
    for (const connection of connections) assert.equal(connection.principal?.userId, partnerId);
    assert.equal(calls, 1);
    const bad = `slk_${'0'.repeat(12)}_${'B'.repeat(43)}`;
    for (let i = 0; i < 5; i++) await assertRefused(pipeline, http(pipeline, { 'x-api-key': bad }));
    assert.equal(calls, 2, 'a refused key is asked about once');
  });

  it('answers SERVICE_UNAVAILABLE, not a refusal, when accounts cannot be asked', async () => {
    const config = stack.config('router');
    const down = accountsApiKeyExchange({ config, logger, url: () => 'http://127.0.0.1:9/graphql', timeoutMs: 500 });
    const { pipeline } = pipelineWith({ exchange: down });
    await assert.rejects(pipeline.connect(http(pipeline, { 'x-api-key': key.key })), { code: 'SERVICE_UNAVAILABLE' });
  });
});
