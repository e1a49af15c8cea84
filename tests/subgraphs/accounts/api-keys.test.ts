import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_KEY_PATTERN, hashApiKey } from '../../../platform/api-keys.ts';
import { createTokenVerifier } from '../../../platform/auth.ts';
import { executeStatement } from '../../../platform/db.ts';
import { createLogger } from '../../../platform/logger.ts';
import { loadServiceTokenSecret, mintServiceToken, SERVICE_TOKEN_HEADER } from '../../../platform/service-auth.ts';
import { JWKS_PATH } from '../../../subgraphs/accounts/index.ts';
import { PartnersService } from '../../../subgraphs/accounts/partners/service.ts';
import { loadSigningKey } from '../../../subgraphs/accounts/signing-key.ts';
import { assertErrorCode, dataOf, errorCodes, type GraphQLResult } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';

const CREATE_PARTNER = `mutation($input: CreatePartnerInput!) { createPartner(input: $input) { id name } }`;
const CREATE_KEY = `mutation($partnerId: ID!, $input: CreateApiKeyInput!) { createApiKey(partnerId: $partnerId, input: $input) { key apiKey { id prefix name operations requestsPerMinute revokedAt expiresAt } } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;
const ROTATE = `mutation($id: ID!, $overlap: Int!) { rotateApiKey(id: $id, overlapSeconds: $overlap) { key apiKey { id prefix operations requestsPerMinute } } }`;
const PARTNERS = `{ partners { id name apiKeys { id prefix name operations requestsPerMinute lastUsedAt revokedAt expiresAt replacedById } } }`;
const EXCHANGE = `mutation($key: String!) { exchangeApiKey(key: $key) { accessToken expiresAt keyId partnerId operations requestsPerMinute } }`;

describe('partners and API keys (accounts)', () => {
  let stack: Stack;
  let admin: TestUser;
  let rider: TestUser;
  let secret: string;
  const db = () => stack.subgraph('accounts').db.fork();
  const rows = (sql: string, params: unknown[] = []) => executeStatement<Record<string, any>>(db(), sql, params);
  const counts = async () => (await rows(`select (select count(*) from "accounts"."partners")::int as partners, (select count(*) from "accounts"."api_keys")::int as keys`))[0];
  /** The router's call: accounts directly, with a service token of the router. */
  const exchange = (key: string, caller: 'router' | 'trips' = 'router') =>
    stack.querySubgraph('accounts', EXCHANGE, { key }, { headers: { [SERVICE_TOKEN_HEADER]: mintServiceToken({ caller, target: 'accounts', secret }) } });
  const asAdmin = (query: string, variables?: Record<string, unknown>) => stack.query(query, variables, { token: admin.accessToken });
  const newPartner = async (name = 'Acme Deliveries') => dataOf(await asAdmin(CREATE_PARTNER, { input: { name } })).createPartner as { id: string; name: string };
  const newKey = async (partnerId: string, input: Record<string, unknown> = { name: 'backend', operations: ['NearbyDrivers', 'RequestTrip'], requestsPerMinute: 120 }) =>
    dataOf(await asAdmin(CREATE_KEY, { partnerId, input })).createApiKey as { key: string; apiKey: { id: string; prefix: string } };
  const subgraph = (query: string, variables?: Record<string, unknown>, options?: { token?: string }) => stack.querySubgraph('accounts', query, variables, options);
  const assertRefused = (result: GraphQLResult) => {
    assertErrorCode(result, 'UNAUTHENTICATED');
    assert.equal(result.body.errors![0].message, 'The API key is not valid.');
  };

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
    const config = stack.config('accounts');
    secret = loadServiceTokenSecret(config, createLogger(config));
    admin = await stack.admin();
    rider = await stack.signUp('RIDER');
  });
  after(() => stack?.stop());

  it('lets an admin create a partner and a key, shows the key once and stores only its hash', async () => {
    const partner = await newPartner();
    const created = await newKey(partner.id);
    assert.match(created.key, API_KEY_PATTERN);
    assert.equal(created.key.split('_')[1], created.apiKey.prefix);
    const listed = dataOf(await asAdmin(PARTNERS)).partners.find((p: { id: string }) => p.id === partner.id);
    assert.deepEqual(listed.apiKeys.map((k: { id: string }) => k.id), [created.apiKey.id]);
    assert.deepEqual(listed.apiKeys[0].operations, ['NearbyDrivers', 'RequestTrip']);
    assert.equal(listed.apiKeys[0].requestsPerMinute, 120);
    const secretPart = created.key.slice(`slk_${created.apiKey.prefix}_`.length);
    assert.ok(!JSON.stringify(listed).includes(secretPart), 'a listing never shows the key');
    const [stored] = await rows(`select * from "accounts"."api_keys" where "id" = ?`, [created.apiKey.id]);
    assert.equal(stored.key_hash, hashApiKey(created.key));
    for (const value of Object.values(stored)) assert.ok(!String(value).includes(secretPart), 'no column holds the key');
  });

  it('exchanges a key for a PARTNER token of the organisation, for the router only, and records the use at most once a minute', async () => {
    const partner = await newPartner();
    const { key, apiKey } = await newKey(partner.id);
    const grant = dataOf(await exchange(key)).exchangeApiKey;
    assert.deepEqual({ keyId: grant.keyId, partnerId: grant.partnerId, operations: grant.operations, requestsPerMinute: grant.requestsPerMinute }, { keyId: apiKey.id, partnerId: partner.id, operations: ['NearbyDrivers', 'RequestTrip'], requestsPerMinute: 120 });
    const config = stack.config('accounts');
    const verify = createTokenVerifier({ jwksUrl: new URL(JWKS_PATH, stack.subgraph('accounts').url).href, issuer: config.jwt.issuer, audience: config.jwt.audience });
    assert.deepEqual({ ...(await verify(grant.accessToken)) }, { userId: partner.id, role: 'PARTNER' });
    const ttl = new Date(grant.expiresAt).getTime() - Date.now();
    assert.ok(ttl > 200_000 && ttl <= 300_000, `a grant lives about 5 minutes (${ttl} ms)`);
    const [first] = await rows(`select "last_used_at" from "accounts"."api_keys" where "id" = ?`, [apiKey.id]);
    assert.ok(first.last_used_at);
    dataOf(await exchange(key));
    const [second] = await rows(`select "last_used_at" from "accounts"."api_keys" where "id" = ?`, [apiKey.id]);
    assert.equal(new Date(second.last_used_at).getTime(), new Date(first.last_used_at).getTime(), 'throttled: no write per exchange');

    assertErrorCode(await exchange(key, 'trips'), 'FORBIDDEN');
    assert.ok(errorCodes(await stack.querySubgraph('accounts', EXCHANGE, { key }, { token: admin.accessToken })).includes('FORBIDDEN'));
    const throughRouter = await stack.query(EXCHANGE, { key }, { token: admin.accessToken });
    assert.ok(!throughRouter.body.data?.exchangeApiKey, 'the exchange is not in the router API');
  });

  it('refuses unknown, malformed and revoked keys with one message', async () => {
    const partner = await newPartner();
    const { key, apiKey } = await newKey(partner.id);
    dataOf(await exchange(key));
    const revoked = dataOf(await asAdmin(REVOKE, { id: apiKey.id })).revokeApiKey;
    assert.ok(revoked.revokedAt);
    assertRefused(await exchange(key));
    const unknownPrefix = `slk_000000000000_${key.split('_').slice(2).join('_')}`;
    const wrongSecret = `${key.slice(0, -4)}AAAA` === key ? `${key.slice(0, -4)}BBBB` : `${key.slice(0, -4)}AAAA`;
    for (const bad of [unknownPrefix, wrongSecret, 'slk_nope', '', 'x'.repeat(500)]) assertRefused(await exchange(bad));
    // Revoking again changes nothing.
    assert.equal(dataOf(await asAdmin(REVOKE, { id: apiKey.id })).revokeApiKey.revokedAt, revoked.revokedAt);
  });

  it('rotates a key: the old one works inside the overlap and is refused after it', async () => {
    const partner = await newPartner();
    const old = await newKey(partner.id);
    const rotated = dataOf(await asAdmin(ROTATE, { id: old.apiKey.id, overlap: 600 })).rotateApiKey;
    assert.notEqual(rotated.key, old.key);
    assert.deepEqual(rotated.apiKey.operations, ['NearbyDrivers', 'RequestTrip']);
    // Inside the overlap both work (the real clock, through the API).
    assert.equal(dataOf(await exchange(old.key)).exchangeApiKey.keyId, old.apiKey.id);
    assert.equal(dataOf(await exchange(rotated.key)).exchangeApiKey.keyId, rotated.apiKey.id);
    const listed = dataOf(await asAdmin(PARTNERS)).partners.find((p: { id: string }) => p.id === partner.id).apiKeys;
    const oldRow = listed.find((k: { id: string }) => k.id === old.apiKey.id);
    assert.equal(oldRow.replacedById, rotated.apiKey.id);
    const endsAt = new Date(oldRow.expiresAt).getTime();

    // The same database seen by a service whose clock is moved: just before the end, at the end, after it.
    const config = stack.config('accounts');
    const signingKey = await loadSigningKey(config, createLogger(config));
    const at = (ms: number) => new PartnersService({ signingKey, issuer: config.jwt.issuer, audience: config.jwt.audience, now: () => ms });
    const justBefore = await at(endsAt - 30_000).exchange(db(), old.key);
    assert.ok(new Date(justBefore.expiresAt).getTime() <= endsAt + 1_000, 'a grant never outlives its key');
    await assert.rejects(at(endsAt).exchange(db(), old.key), { extensions: { code: 'UNAUTHENTICATED' }, message: 'The API key is not valid.' });
    await assert.rejects(at(endsAt + 60_000).exchange(db(), old.key), { message: 'The API key is not valid.' });
    assert.equal((await at(endsAt + 60_000).exchange(db(), rotated.key)).keyId, rotated.apiKey.id);

    // A key is rotated once; a revoked one not at all.
    assertErrorCode(await asAdmin(ROTATE, { id: old.apiKey.id, overlap: 60 }), 'CONFLICT');
    dataOf(await asAdmin(REVOKE, { id: rotated.apiKey.id }));
    assertErrorCode(await asAdmin(ROTATE, { id: rotated.apiKey.id, overlap: 60 }), 'CONFLICT');
  });

  it('ends the old key at once with no overlap', async () => {
    const partner = await newPartner();
    const old = await newKey(partner.id);
    const rotated = dataOf(await asAdmin(ROTATE, { id: old.apiKey.id, overlap: 0 })).rotateApiKey;
    assertRefused(await exchange(old.key));
    assert.equal(dataOf(await exchange(rotated.key)).exchangeApiKey.keyId, rotated.apiKey.id);
  });

  it('refuses everyone but admins and writes nothing', async () => {
    const partner = await newPartner();
    const { key, apiKey } = await newKey(partner.id);
    const partnerToken = dataOf(await exchange(key)).exchangeApiKey.accessToken;
    const before = await counts();
    // Accounts' own rules, asked directly (the router may refuse a partner's free text before: persisted operations); riders and anonymous through the router too.
    const callers = [
      [rider.accessToken, 'FORBIDDEN', true],
      [partnerToken, 'FORBIDDEN', false],
      [undefined, 'UNAUTHENTICATED', true],
    ] as const;
    for (const [token, code, viaRouter] of callers) {
      for (const send of viaRouter ? [stack.query.bind(stack), subgraph] : [subgraph]) {
        assertErrorCode(await send(CREATE_PARTNER, { input: { name: 'Sneaky' } }, { token }), code);
        assertErrorCode(await send(CREATE_KEY, { partnerId: partner.id, input: { name: 'k', requestsPerMinute: 10 } }, { token }), code);
        assertErrorCode(await send(ROTATE, { id: apiKey.id, overlap: 0 }, { token }), code);
        assertErrorCode(await send(REVOKE, { id: apiKey.id }, { token }), code);
        assertErrorCode(await send(PARTNERS, {}, { token }), code);
      }
    }
    assert.deepEqual(await counts(), before);
    dataOf(await exchange(key)); // neither revoked nor rotated
  });

  it('refuses bad input with BAD_USER_INPUT naming the field and writes nothing', async () => {
    const partner = await newPartner();
    const { apiKey } = await newKey(partner.id);
    const before = await counts();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [CREATE_PARTNER, { input: { name: '   ' } }, 'name'],
      [CREATE_PARTNER, { input: { name: 'x'.repeat(101) } }, 'name'],
      [CREATE_KEY, { partnerId: partner.id, input: { name: 'k', requestsPerMinute: 0 } }, 'input.requestsPerMinute'],
      [CREATE_KEY, { partnerId: partner.id, input: { name: 'k', requestsPerMinute: 100_001 } }, 'input.requestsPerMinute'],
      [CREATE_KEY, { partnerId: partner.id, input: { name: 'k', requestsPerMinute: 10, operations: ['ok', 'not an operation'] } }, 'input.operations.1'],
      [CREATE_KEY, { partnerId: partner.id, input: { name: '', requestsPerMinute: 10 } }, 'input.name'],
      [CREATE_KEY, { partnerId: 'not-a-uuid', input: { name: 'k', requestsPerMinute: 10 } }, 'partnerId'],
      [ROTATE, { id: apiKey.id, overlap: -1 }, 'overlapSeconds'],
      [ROTATE, { id: apiKey.id, overlap: 604_801 }, 'overlapSeconds'],
      [REVOKE, { id: 'nope' }, 'id'],
    ];
    for (const [query, variables, field] of cases) {
      const result = await asAdmin(query, variables);
      assertErrorCode(result, 'BAD_USER_INPUT');
      assert.ok(result.body.errors![0].extensions!.fields[field], `${field} named in ${JSON.stringify(result.body.errors)}`);
    }
    assertErrorCode(await asAdmin(CREATE_KEY, { partnerId: '00000000-0000-4000-8000-000000000000', input: { name: 'k', requestsPerMinute: 10 } }), 'NOT_FOUND');
    assertErrorCode(await asAdmin(REVOKE, { id: '00000000-0000-4000-8000-000000000000' }), 'NOT_FOUND');
    assert.deepEqual(await counts(), before);
    const [row] = await rows(`select "revoked_at", "expires_at" from "accounts"."api_keys" where "id" = ?`, [apiKey.id]);
    assert.deepEqual([row.revoked_at, row.expires_at], [null, null]);
  });
});
