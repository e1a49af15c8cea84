import { productionSecrets } from '../support/production.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { loadConfig } from '../../platform/config.ts';
import { subgraphSdlPath } from '../../schema/compose.ts';
import { createLogger } from '../../platform/logger.ts';
import { startRouter, type RunningRouter } from '../../router/router.ts';
import { assertErrorCode, dataOf, graphql } from '../support/client.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('the router in development', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
  });
  after(() => stack.stop());

  it('serves Apollo Sandbox to a browser', async () => {
    const response = await fetch(stack.routerUrl, { headers: { accept: 'text/html' } });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /sandbox/i);
  });

  it('allows introspection', async () => {
    const data = dataOf(await stack.query(`{ __schema { queryType { name } } }`));
    assert.equal(data.__schema.queryType.name, 'Query');
  });

  it('reports live and ready with its checks', async () => {
    const base = stack.routerUrl.replace('/graphql', '');
    assert.equal((await fetch(`${base}/health/live`)).status, 200);
    const ready = await fetch(`${stack.subgraph('accounts').url.replace('/graphql', '')}/health/ready`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.database, 'ok');
  });

  it('exposes Prometheus metrics on every service', async () => {
    await stack.signUp('RIDER');
    const subgraphMetrics = await (await fetch(stack.subgraph('accounts').url.replace('/graphql', '/metrics'))).text();
    const statements = /smartline_sql_statements_total\{service="accounts"\} (\d+)/.exec(subgraphMetrics);
    assert.ok(statements && Number(statements[1]) > 0, 'SQL statements are counted');
    const routerMetrics = await (await fetch(stack.routerUrl.replace('/graphql', '/metrics'))).text();
    assert.match(routerMetrics, /smartline_http_request_duration_seconds_count\{service="router",method="POST",route="\/graphql",status="200"\} [1-9]\d*/);
  });

  it('answers CORS preflights only for allowed origins', async () => {
    const preflight = (origin: string) => fetch(stack.routerUrl, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    const allowed = await preflight('https://studio.apollographql.com');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://studio.apollographql.com');
    const denied = await preflight('https://evil.example');
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
  });

  it('rejects a body that is not JSON with BAD_USER_INPUT, not a 500', async () => {
    const response = await fetch(stack.routerUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code, 'BAD_USER_INPUT');
  });

  it('finishes an in-flight request while draining, then refuses new connections', async () => {
    const config = loadConfig('router', { ...stack.env, PORT: '0' });
    const router = await startRouter(config, { logger: createLogger(config) });
    const arrived = new Promise((resolve) => router.http.server.once('request', resolve));
    const inFlight = graphql(router.url, `mutation { logIn(phone: "+201000000001", password: "whatever-password") { accessToken } }`);
    await arrived;
    const stopping = router.stop();
    const result = await inFlight;
    assertErrorCode(result, 'INVALID_CREDENTIALS');
    await stopping;
    assert.equal(router.http.phase(), 'stopped');
    await assert.rejects(fetch(router.url.replace('/graphql', '/health/live')));
  });
});

describe('the router in production', () => {
  let stack: Stack;
  let router: RunningRouter;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
    const config = loadConfig('router', { ...stack.env, NODE_ENV: 'production', SERVICE_TOKEN_SECRET: productionSecrets().SERVICE_TOKEN_SECRET });
    router = await startRouter(config, { logger: createLogger(config) });
  });
  after(async () => {
    await router.stop();
    await stack.stop();
  });

  it('serves no landing page', async () => {
    const response = await fetch(router.url, { headers: { accept: 'text/html' } });
    assert.doesNotMatch(await response.text(), /sandbox/i);
  });

  it('refuses introspection', async () => {
    const result = await graphql(router.url, `{ __schema { queryType { name } } }`);
    assert.equal(result.body.errors?.[0].extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
  });

  it('never sends a stack trace', async () => {
    const result = await graphql(router.url, `mutation { logIn(phone: "+201000000001", password: "whatever-password") { accessToken } }`);
    assertErrorCode(result, 'INVALID_CREDENTIALS');
    assert.equal(JSON.stringify(result.body).includes('stacktrace'), false);
  });
});

describe('the router as a generic federation router', () => {
  let stack: Stack;
  let router: RunningRouter;
  let dir: string;
  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'], router: false });
    // A supergraph of accounts alone, as any other team's supergraph file would be.
    const composed = composeServices([{ name: 'accounts', url: stack.subgraph('accounts').url, typeDefs: parse(readFileSync(subgraphSdlPath('accounts'), 'utf8')) }]);
    assert.equal(composed.errors, undefined);
    dir = mkdtempSync(path.join(os.tmpdir(), 'supergraph-'));
    const file = path.join(dir, 'accounts-only.graphql');
    writeFileSync(file, composed.supergraphSdl!);
    const env = { ...stack.env, SUPERGRAPH_PATH: file };
    delete (env as Record<string, string | undefined>).ACCOUNTS_URL; // the URL comes from the file itself
    const config = loadConfig('router', env);
    router = await startRouter(config, { logger: createLogger(config) });
  });
  after(async () => {
    await router.stop();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the supergraph file it is given, with the routing URLs in it', async () => {
    const signUp = await graphql(router.url, `mutation { signUp(input: { phone: "+201077700001", password: "long-password-1", name: "Gen", role: RIDER }) { user { name } } }`);
    assert.equal(dataOf(signUp).signUp.user.name, 'Gen');
  });

  it('knows nothing of subgraphs outside that file', async () => {
    const result = await graphql(router.url, `{ fareEstimates(pickup: { lat: 30, lng: 31 }, dropoff: { lat: 30.1, lng: 31.1 }) { id } }`);
    assert.equal(result.body.errors?.[0].extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
  });
});
