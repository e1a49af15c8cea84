import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createLogger } from '../../platform/logger.ts';
import type { ManifestSource, PersistedOperationsPolicy } from '../../router/edge/features/persisted-operations.ts';
import { PERSISTED_MANIFESTS, startRouter, type RunningRouter } from '../../router/router.ts';
import { loadSigningKey } from '../../subgraphs/accounts/signing-key.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

const root = new URL('../../', import.meta.url);
const manifest = (file: string) => JSON.parse(readFileSync(new URL(file, root), 'utf8')) as { operations: Array<{ id: string; name: string; body: string }> };
const partners = manifest('schema/persisted-queries.json');
const apps = manifest('schema/persisted-queries.apps.json');
const op = (list: typeof partners, name: string) => list.operations.find((operation) => operation.name === name)!;
const CAIRO = { pickup: { lat: 30.0444, lng: 31.2357 }, dropoff: { lat: 30.0626, lng: 31.2497 } };

async function post(url: string, body: unknown, token?: string) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, any> }> } };
}
const codes = (body: { errors?: Array<{ extensions?: Record<string, any> }> }) => (body.errors ?? []).map((error) => error.extensions?.code);
const byHash = (id: string, variables?: unknown) => ({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: id } } });

describe('persisted operations at the router edge', () => {
  let stack: Stack;
  let rider: TestUser;
  let partnerToken: string;
  const routers: RunningRouter[] = [];
  const logger = createLogger({ service: 'router', logLevel: 'silent', production: false } as never);
  /** The router as production starts it, with this policy and these manifests (the stack's own runs with the defaults). */
  const start = async (policy: PersistedOperationsPolicy, manifests: readonly ManifestSource[] = PERSISTED_MANIFESTS) => {
    const config = stack.config('router');
    const router = await startRouter({ ...config, persistedOperations: { ...config.persistedOperations, policy } }, { logger, persistedManifests: manifests, subscriptions: false });
    routers.push(router);
    return router;
  };

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'pricing', 'trips'] });
    rider = await stack.signUp('RIDER');
    const config = stack.config('accounts');
    const key = await loadSigningKey(config, createLogger(config));
    partnerToken = await new SignJWT({ role: 'PARTNER' })
      .setSubject(randomUUID())
      .setIssuer(config.jwt.issuer)
      .setAudience(config.jwt.audience)
      .setProtectedHeader({ alg: 'ES256', kid: key.kid })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key.privateKey);
  });
  after(async () => {
    await Promise.all(routers.map((router) => router.stop()));
    await stack?.stop();
  });

  describe('policy partners (the default)', () => {
    let router: RunningRouter;
    before(async () => {
      router = await start('partners');
    });

    it('answers a partner by id, both protocols', async () => {
      const estimates = op(partners, 'PartnerFareEstimates');
      const apollo = await post(router.url, byHash(estimates.id, CAIRO), partnerToken);
      assert.equal(apollo.status, 200, JSON.stringify(apollo.body));
      assert.ok(apollo.body.data.fareEstimates.length > 0);
      assert.equal(apollo.body.data.fareEstimates[0].__typename, 'Quote');
      const documentId = await post(router.url, { documentId: estimates.id, variables: CAIRO }, partnerToken);
      assert.equal(documentId.status, 200, JSON.stringify(documentId.body));
      assert.deepEqual(documentId.body.data.fareEstimates.map((quote: any) => quote.vehicleType), apollo.body.data.fareEstimates.map((quote: any) => quote.vehicleType));
      // Not on the fast path yet: Apollo Client's `__typename` (last in each selection set) is hoisted first
      // by the query planner, so router/passthrough.ts sees "planner changed the selection" and the gateway answers.
      // Reading a trip runs (the subgraph's rules answer it), never a persisted-query refusal.
      const trip = await post(router.url, byHash(op(partners, 'PartnerTrip').id, { id: randomUUID() }), partnerToken);
      assert.ok(!codes(trip.body).some((code) => String(code).startsWith('PERSISTED_QUERY')), JSON.stringify(trip.body));
    });

    it("refuses a partner's free text (PERSISTED_QUERY_NOT_IN_LIST), even the manifest's own text; riders keep free text", async () => {
      const estimates = op(partners, 'PartnerFareEstimates');
      const text = await post(router.url, { query: estimates.body, variables: CAIRO }, partnerToken);
      assert.equal(text.status, 400);
      assert.deepEqual(codes(text.body), ['PERSISTED_QUERY_NOT_IN_LIST']);
      const get = await fetch(`${router.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { authorization: `Bearer ${partnerToken}`, 'apollo-require-preflight': 'true' } });
      assert.deepEqual(codes((await get.json()) as any), ['PERSISTED_QUERY_NOT_IN_LIST']);
      const riderText = await post(router.url, { query: estimates.body, variables: CAIRO }, rider.accessToken);
      assert.equal(riderText.status, 200);
      assert.ok(riderText.body.data.fareEstimates.length > 0);
    });

    it("refuses a partner an apps' operation by id (not in the partners' list)", async () => {
      const me = await post(router.url, byHash(op(apps, 'Me').id), partnerToken);
      assert.deepEqual(codes(me.body), ['PERSISTED_QUERY_NOT_IN_LIST']);
    });

    it('answers an unknown id with PERSISTED_QUERY_NOT_FOUND', async () => {
      const unknown = 'f'.repeat(64);
      const partner = await post(router.url, byHash(unknown), partnerToken);
      assert.equal(partner.status, 404);
      assert.deepEqual(codes(partner.body), ['PERSISTED_QUERY_NOT_FOUND']);
      const documentId = await post(router.url, { documentId: unknown }, rider.accessToken);
      assert.deepEqual(codes(documentId.body), ['PERSISTED_QUERY_NOT_FOUND']);
      // A rider's bare hash is an automatic persisted query: Apollo Server's own miss.
      const apq = await post(router.url, byHash(unknown), rider.accessToken);
      assert.deepEqual(codes(apq.body), ['PERSISTED_QUERY_NOT_FOUND']);
    });

    it('answers a GET by a manifest id (Apollo Server finds it through the manifest)', async () => {
      const estimates = op(partners, 'PartnerFareEstimates');
      const params = new URLSearchParams({ variables: JSON.stringify(CAIRO), extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: estimates.id } }) });
      const response = await fetch(`${router.url}?${params}`, { headers: { authorization: `Bearer ${partnerToken}`, 'apollo-require-preflight': 'true' } });
      const body = (await response.json()) as any;
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.ok(body.data.fareEstimates.length > 0);
    });

    it('warmed every manifest operation on load', () => {
      assert.equal(router.persistedOperations.size, partners.operations.length + apps.operations.length);
      assert.equal(router.persistedOperations.warmed >= router.persistedOperations.size, true);
    });
  });

  it('policy all: every caller sends manifest ids; apps run their own operations by id', async () => {
    const router = await start('all');
    const text = await post(router.url, { query: '{ me { id } }' }, rider.accessToken);
    assert.deepEqual(codes(text.body), ['PERSISTED_QUERY_NOT_IN_LIST']);
    const anonymous = await post(router.url, { query: '{ __typename }' });
    assert.deepEqual(codes(anonymous.body), ['PERSISTED_QUERY_NOT_IN_LIST']);
    const me = await post(router.url, { documentId: op(apps, 'Me').id }, rider.accessToken);
    assert.equal(me.body.data?.me?.id, rider.id, JSON.stringify(me.body));
    // An APQ registration of text outside the list is refused too.
    const registration = await post(router.url, { query: '{ me { id name } }', extensions: { persistedQuery: { version: 1, sha256Hash: sha('{ me { id name } }') } } }, rider.accessToken);
    assert.deepEqual(codes(registration.body), ['PERSISTED_QUERY_NOT_IN_LIST']);
  });

  it('policy off: partners may send text; ids still resolve', async () => {
    const router = await start('off');
    const text = await post(router.url, { query: op(partners, 'PartnerFareEstimates').body, variables: CAIRO }, partnerToken);
    assert.equal(text.status, 200, JSON.stringify(text.body));
    const id = await post(router.url, byHash(op(partners, 'PartnerFareEstimates').id, CAIRO), partnerToken);
    assert.ok(id.body.data.fareEstimates.length > 0);
  });

  it('reloads the manifest without a restart; a broken file keeps the previous one', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'persisted-'));
    const file = path.join(directory, 'partners.json');
    const full = readFileSync(PERSISTED_MANIFESTS[0]!.path, 'utf8');
    const only = JSON.parse(full);
    only.operations = only.operations.filter((operation: { name: string }) => operation.name === 'PartnerTrip');
    writeFileSync(file, JSON.stringify(only));
    const router = await start('partners', [{ path: file, clients: 'partners' }]);
    const estimates = op(partners, 'PartnerFareEstimates');
    assert.deepEqual(codes((await post(router.url, byHash(estimates.id, CAIRO), partnerToken)).body), ['PERSISTED_QUERY_NOT_FOUND']);
    copyFileSync(PERSISTED_MANIFESTS[0]!.path, file);
    assert.equal(router.reloadPersistedOperations(), true);
    assert.ok((await post(router.url, byHash(estimates.id, CAIRO), partnerToken)).body.data.fareEstimates.length > 0);
    writeFileSync(file, '{ not json');
    assert.equal(router.reloadPersistedOperations(), false);
    assert.ok((await post(router.url, byHash(estimates.id, CAIRO), partnerToken)).body.data.fareEstimates.length > 0, 'the previous manifest still answers');
  });

  it('shares automatic persisted queries across routers through Redis', { skip: !process.env.REDIS_URL && 'needs REDIS_URL (routers share APQ through Redis)' }, async () => {
    // Two routers of one deployment (one Redis namespace) share Apollo Server's APQ cache.
    const [one, two] = [await start('partners'), await start('partners')];
    const query = `query Apq${Date.now()} { me { id name } }`;
    const hash = sha(query);
    assert.deepEqual(codes((await post(two.url, byHash(hash), rider.accessToken)).body), ['PERSISTED_QUERY_NOT_FOUND']);
    const registered = await post(one.url, { query, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }, rider.accessToken);
    assert.equal(registered.body.data?.me?.id, rider.id, JSON.stringify(registered.body));
    const other = await post(two.url, byHash(hash), rider.accessToken);
    assert.equal(other.body.data?.me?.id, rider.id, JSON.stringify(other.body));
  });
});

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
