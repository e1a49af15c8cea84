import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { mintServiceToken, SERVICE_TOKEN_HEADER } from '../../platform/service-auth.ts';
import { assertErrorCode, errorCodes, graphql, type GraphQLResult } from '../support/client.ts';
import { productionSecrets } from '../support/production.ts';
import { CAIRO, RideFixtures, waitFor, type RideDriver } from '../support/rides.ts';
import { startStack, type Stack } from '../support/stack.ts';

/** A raw POST (any body) and its status, code and text. */
async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  let codes: string[] = [];
  try {
    codes = ((JSON.parse(text) as GraphQLResult['body']).errors ?? []).map((error) => error.extensions?.code);
  } catch {}
  return { status: response.status, codes, text };
}

const UPDATE_LOCATIONS = `mutation($b: [LocationInput!]!) { updateLocations(batch: $b) { accepted rejected } }`;
const SIGN_UP = `mutation($i: SignUpInput!) { signUp(input: $i) { user { id } } }`;
const deepObject = (depth: number) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
/** Router fixes that need the lead's wiring (router/router.ts, router/edge/http.ts): see the hardening report. */

describe('bad input never becomes a 500', () => {
  let stack: Stack;
  let rides: RideFixtures;
  let driver: RideDriver;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'drivers'] });
    rides = new RideFixtures(stack);
    driver = await rides.onlineDriverAt(CAIRO);
  });
  after(async () => {
    await rides.dispose();
    await stack.stop();
  });

  const historyCount = async () => Number((await stack.subgraph('drivers').db.orm.em.getConnection().execute(`select count(*) as "n" from "drivers"."driver_location_history"`))[0].n);

  it('refuses a location dated in year 0, 1900 or 30 days ago (BAD_USER_INPUT), and the history keeps being written', async () => {
    for (const recordedAt of ['0000-01-01T00:00:00Z', '1900-01-01T00:00:00Z', '2026-02-30T00:00:00Z', new Date(Date.now() - 30 * 86_400_000).toISOString()]) {
      const result = await stack.query(UPDATE_LOCATIONS, { b: [{ ...CAIRO, recordedAt }] }, { token: driver.accessToken });
      assert.ok(result.status < 500, recordedAt);
      assertErrorCode(result, 'BAD_USER_INPUT');
    }
    const before = await historyCount();
    await stack.query(UPDATE_LOCATIONS, { b: [{ ...CAIRO, accuracyM: 5, recordedAt: new Date(Date.now() - 1000).toISOString() }] }, { token: driver.accessToken });
    await waitFor(async () => ((await historyCount()) > before ? true : undefined), { what: 'the next point in the history' });
  });

  it('refuses control characters and overlong strings in any argument with BAD_USER_INPUT, writing nothing', async () => {
    const input = { phone: '+201099900001', password: 'long-password-1', role: 'RIDER' };
    for (const name of ['nul\u0000byte', 'escape\u001b[31m', 'x'.repeat(5_000)]) assertErrorCode(await stack.query(SIGN_UP, { i: { ...input, name } }), 'BAD_USER_INPUT');
    assertErrorCode(await stack.query(`mutation { logIn(phone: "+20\\u0000", password: "whatever-password") { accessToken } }`), 'BAD_USER_INPUT');
    assertErrorCode(await stack.query(`mutation { logIn(phone: "+201099900001", password: "long-password-1") { accessToken } }`), 'INVALID_CREDENTIALS');
  });

  it('answers persisted queries of another version or a hash that does not match 400 BAD_REQUEST', async () => {
    const unsupported = await post(stack.routerUrl, JSON.stringify({ extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } } }));
    assert.deepEqual([unsupported.status, unsupported.codes], [400, ['BAD_REQUEST']]);
    const mismatch = await post(stack.routerUrl, JSON.stringify({ query: '{ me { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }));
    assert.deepEqual([mismatch.status, mismatch.codes], [400, ['BAD_REQUEST']]);
  });

  it('answers an unreachable subgraph SERVICE_UNAVAILABLE, without the cause', async () => {
    const rider = await stack.signUp('RIDER');
    const result = await stack.query(`{ fareEstimates(pickup: { lat: 30, lng: 31 }, dropoff: { lat: 30.01, lng: 31.01 }) { id } }`, {}, { token: rider.accessToken });
    assertErrorCode(result, 'SERVICE_UNAVAILABLE');
    assert.doesNotMatch(JSON.stringify(result.body), /ECONNREFUSED|127\.0\.0\.1/);
  });

  describe('a subgraph called directly', () => {
    const drivers = () => stack.subgraph('drivers').url;

    it('refuses a Float literal beyond any number (1e400) with BAD_USER_INPUT', async () => {
      const result = await graphql(drivers(), `mutation { updateLocation(input: { lat: 1e400, lng: 31, recordedAt: "2026-01-01T00:00:00Z" }) { accepted } }`, undefined, { token: driver.accessToken });
      assertErrorCode(result, 'BAD_USER_INPUT');
    });

    it('answers unknown or ambiguous operation names, malformed persisted-query hashes and deep variables 400 with a code', async () => {
      const cases: Array<[unknown, string]> = [
        [{ query: 'query A { __typename }', operationName: 'B' }, 'OPERATION_RESOLUTION_FAILURE'],
        [{ query: 'query A { __typename } query B { __typename }' }, 'OPERATION_RESOLUTION_FAILURE'],
        [{ query: '{ __typename }', operationName: 'not a name' }, 'BAD_REQUEST'],
        [{ extensions: { persistedQuery: { version: 1, sha256Hash: 'zz' } } }, 'BAD_REQUEST'],
        [{ query: '{ __typename }', variables: { v: deepObject(1_000) } }, 'BAD_USER_INPUT'],
      ];
      for (const [body, code] of cases) {
        const answer = await post(drivers(), JSON.stringify(body));
        assert.deepEqual([answer.status, answer.codes], [400, [code]], JSON.stringify(body).slice(0, 80));
      }
    });
  });

  describe('the router', () => {
    it('refuses a Float literal beyond any number (1e400) 400 BAD_USER_INPUT', async () => {
      const answer = await post(stack.routerUrl, JSON.stringify({ query: 'mutation { updateLocation(input: { lat: 1e400, lng: 31, recordedAt: "2026-01-01T00:00:00Z" }) { accepted } }' }), { authorization: `Bearer ${driver.accessToken}` });
      assert.deepEqual([answer.status, answer.codes], [400, ['BAD_USER_INPUT']]);
    });

    it('answers unknown or ambiguous operation names 400 OPERATION_RESOLUTION_FAILURE', async () => {
      for (const body of [{ query: 'query A { me { id } }', operationName: 'B' }, { query: 'query A { me { id } } query B { me { id } }' }]) {
        const answer = await post(stack.routerUrl, JSON.stringify(body));
        assert.deepEqual([answer.status, answer.codes], [400, ['OPERATION_RESOLUTION_FAILURE']]);
      }
    });

    it('answers malformed persisted-query hashes and deep variables 400 with a code', async () => {
      const hash = await post(stack.routerUrl, JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'zz' } } }));
      assert.deepEqual([hash.status, hash.codes], [400, ['BAD_REQUEST']]);
      const deep = await post(stack.routerUrl, JSON.stringify({ query: '{ me { id } }', variables: { v: deepObject(1_000) } }));
      assert.deepEqual([deep.status, deep.codes], [400, ['BAD_USER_INPUT']]);
    });
  });
});

describe('production hardening', { skip: !process.env.DATABASE_URL && 'DATABASE_URL is not set: production needs a real Postgres' }, () => {
  let stack: Stack;
  const secrets = productionSecrets();
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts', 'drivers'], env: { NODE_ENV: 'production', METRICS_PORT: '0', ...secrets } });
  });
  after(() => stack?.stop());

  const serviceToken = () => ({ [SERVICE_TOKEN_HEADER]: mintServiceToken({ caller: 'trips', target: 'drivers', secret: secrets.SERVICE_TOKEN_SECRET }) });

  it('sends no "Did you mean" suggestions, from the router or a subgraph', async () => {
    for (const url of [stack.routerUrl, stack.subgraph('accounts').url]) {
      const result = await graphql(url, `{ mee { id } }`);
      assert.deepEqual(errorCodes(result), ['GRAPHQL_VALIDATION_FAILED']);
      assert.doesNotMatch(JSON.stringify(result.body), /Did you mean/);
    }
    const typo = await stack.query(SIGN_UP, { i: { phone: '+201099900002', password: 'long-password-1', name: 'N', role: 'RIDR' } });
    assert.doesNotMatch(JSON.stringify(typo.body), /Did you mean/);
  });

  it('answers subgraph introspection and _service only to a service token', async () => {
    const drivers = stack.subgraph('drivers').url;
    assert.deepEqual(errorCodes(await graphql(drivers, `{ __schema { queryType { name } } }`)), ['GRAPHQL_VALIDATION_FAILED']);
    assert.equal((await graphql(drivers, `{ __schema { queryType { name } } }`, undefined, { headers: serviceToken() })).body.data?.__schema.queryType.name, 'Query');
    assert.deepEqual(errorCodes(await graphql(drivers, `{ _service { sdl } }`)), ['UNAUTHENTICATED']);
    assert.match((await graphql(drivers, `{ _service { sdl } }`, undefined, { headers: serviceToken() })).body.data?._service.sdl, /type Driver/);
  });

  it("runs no query or mutation over a subgraph's WebSocket", async () => {
    const client = createClient({ url: stack.subgraph('drivers').url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    try {
      for (const query of ['{ __typename }', '{ __schema { queryType { name } } }', 'mutation { goOffline { id } }']) {
        const events: any[] = [];
        for await (const event of client.iterate({ query })) events.push(event);
        assert.fail(`${query} answered ${JSON.stringify(events)}`);
      }
    } catch (errors) {
      assert.ok(Array.isArray(errors), String(errors));
      assert.match(JSON.stringify(errors), /Only subscriptions|introspection/);
    } finally {
      await client.dispose();
    }
  });

  it('serves metrics on METRICS_PORT, a port of their own', async () => {
    const url = stack.subgraph('drivers').metricsUrl!;
    assert.notEqual(new URL(url).port, String(stack.subgraph('drivers').port));
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /smartline_sql_statements_total/);
  });

  it('serves no /metrics on the public port of the router or a subgraph', async () => {
    for (const url of [stack.routerUrl, stack.subgraph('drivers').url]) assert.equal((await fetch(url.replace('/graphql', '/metrics'))).status, 404);
  });
});
