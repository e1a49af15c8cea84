import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SUBGRAPHS } from '../../subgraphs/index.ts';
import { dataOf, graphql } from '../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { seedFromTemplates } from '../support/pglite-templates.ts';
import { startServiceProcess, type ServiceProcess } from '../support/processes.ts';

/**
 * The router as its own process in front of a real accounts process: its readiness follows whether it
 * can reach its subgraphs, and its shutdown answers every request it has taken on kept-alive connections.
 */
async function accountsEnvironment(database: TestDatabase): Promise<Record<string, string>> {
  if (!database.databaseUrl) await seedFromTemplates(database.dataDir, [SUBGRAPHS.accounts]);
  return {
    PATH: process.env.PATH ?? '',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    DATA_DIR: database.dataDir,
    DATABASE_POOL_MAX: '4',
  };
}

function routerEnvironment(env: Record<string, string>, accounts: ServiceProcess, others: string): Record<string, string> {
  return {
    ...env,
    JWKS_URL: new URL('/.well-known/jwks.json', accounts.url).toString(),
    ACCOUNTS_URL: accounts.url,
    ...Object.fromEntries(['drivers', 'trips', 'pricing', 'wallet'].map((name) => [`${name.toUpperCase()}_URL`, `${others}/${name}/graphql`])),
    // Every request of the load below reaches accounts; none is turned away early by a budget.
    RATE_LIMITS: 'false',
  };
}

/**
 * The other four subgraphs, down: /<name>/health/ready answers 503 (every replica unready), except
 * wallet's, which never answers (a subgraph lost in the network). Counts the probes.
 */
async function startUnreadySubgraphs() {
  const probes = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const name = (req.url ?? '').split('/')[1] ?? '';
    probes.set(name, (probes.get(name) ?? 0) + 1);
    if (name === 'wallet') return;
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"unavailable"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    probes: () => Object.fromEntries(probes),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Readiness {
  status: number;
  body: { status: string; checks?: Record<string, string>; details?: { subgraphs?: Record<string, string> } };
}

async function readiness(routerUrl: string): Promise<Readiness> {
  const response = await fetch(routerUrl.replace('/graphql', '/health/ready'));
  return { status: response.status, body: (await response.json()) as Readiness['body'] };
}

/** Polls until the router's readiness answers `status`; the probes' cache is 2 s, so 10 s is ample. */
async function readinessBecomes(routerUrl: string, status: number): Promise<Readiness> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const current = await readiness(routerUrl);
    if (current.status === status) return current;
    if (performance.now() > deadline) assert.fail(`readiness stayed ${current.status} (${JSON.stringify(current.body)}), expected ${status}`);
    await delay(100);
  }
}

describe('router readiness', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let accounts: ServiceProcess;
  let router: ServiceProcess;
  let unready: Awaited<ReturnType<typeof startUnreadySubgraphs>>;

  before(async () => {
    database = await createTestDatabase();
    env = await accountsEnvironment(database);
    accounts = await startServiceProcess('accounts', env);
    unready = await startUnreadySubgraphs();
    router = await startServiceProcess('router', routerEnvironment(env, accounts, unready.url));
  });

  after(async () => {
    await Promise.all([router?.stop(), accounts?.stop()]);
    await unready?.close();
    await database?.dispose();
  });

  it('is ready, and says it is degraded, while one subgraph answers and the rest are down', async () => {
    const started = performance.now();
    const ready = await readiness(router.url);
    // Within the probe's 1 s timeout for wallet, well inside Kubernetes' 2 s.
    assert.ok(performance.now() - started < 1_900, `answered in ${Math.round(performance.now() - started)} ms`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'degraded');
    assert.equal(ready.body.checks?.subgraphs, 'degraded');
    assert.deepEqual(ready.body.details?.subgraphs, { accounts: 'ok', drivers: 'unready', trips: 'unready', pricing: 'unready', wallet: 'unreachable' });
  });

  it('probes each subgraph at most once per round however many readiness checks arrive at once', async () => {
    const before = unready.probes();
    const answers = await Promise.all(Array.from({ length: 50 }, () => readiness(router.url)));
    assert.ok(answers.every((answer) => answer.status === 200));
    const probes = unready.probes();
    for (const name of ['drivers', 'trips', 'pricing', 'wallet']) {
      // Zero (the cache answered all fifty) or one round, two if the cache expired meanwhile: never fifty.
      assert.ok((probes[name] ?? 0) - (before[name] ?? 0) <= 2, `${name} was probed ${(probes[name] ?? 0) - (before[name] ?? 0)} times for 50 readiness checks`);
    }
  });

  it('turns unready when it can reach no subgraph, and ready again when one comes back, with nothing restarted', async () => {
    const port = new URL(accounts.url).port;
    accounts.child.kill('SIGKILL');
    await new Promise((resolve) => accounts.child.once('exit', resolve));

    const down = await readinessBecomes(router.url, 503);
    assert.equal(down.body.status, 'unavailable');
    assert.equal(down.body.checks?.subgraphs, 'failing');
    assert.equal(down.body.details?.subgraphs?.accounts, 'unreachable');
    // Still alive: Kubernetes must not restart it for a subgraph's outage.
    assert.equal((await fetch(router.url.replace('/graphql', '/health/live'))).status, 200);

    accounts = await startServiceProcess('accounts', { ...env, PORT: port });
    const up = await readinessBecomes(router.url, 200);
    assert.equal(up.body.details?.subgraphs?.accounts, 'ok');
    // And it serves again through the same router process.
    const signUp = await graphql(router.url, `mutation { signUp(input: { phone: "+201066600001", password: "long-password-1", name: "Back", role: RIDER }) { user { name } } }`);
    assert.equal(dataOf(signUp).signUp.user.name, 'Back');
  });
});

type Outcome =
  | { kind: 'answered'; closing: boolean; afterSignal: boolean }
  | { kind: 'refused' }
  | { kind: 'failed'; code: string; reusedSocket: boolean; afterSignal: boolean };

/** One POST on `agent`; never rejects: the outcome says what happened. */
function post(url: URL, agent: http.Agent, body: string, token: string, signalled: () => boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.once('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'failed', code: error.code ?? error.message, reusedSocket: request.reusedSocket, afterSignal: signalled() }));
      response.once('end', () => {
        const parsed = JSON.parse(text) as { data?: { me?: { id: string } } };
        if (response.statusCode !== 200 || !parsed.data?.me?.id) resolve({ kind: 'failed', code: `HTTP ${response.statusCode}: ${text.slice(0, 200)}`, reusedSocket: request.reusedSocket, afterSignal: signalled() });
        else resolve({ kind: 'answered', closing: response.headers.connection === 'close', afterSignal: signalled() });
      });
    });
    request.once('error', (error: NodeJS.ErrnoException) => {
      // A refusal can only come from a new connection: the listener is closed. Anything else dropped a request.
      if (error.code === 'ECONNREFUSED' && !request.reusedSocket) resolve({ kind: 'refused' });
      else resolve({ kind: 'failed', code: error.code ?? error.message, reusedSocket: request.reusedSocket, afterSignal: signalled() });
    });
    request.end(body);
  });
}

describe('router shutdown under load', () => {
  let database: TestDatabase;
  let accounts: ServiceProcess;
  let router: ServiceProcess;
  let unready: Awaited<ReturnType<typeof startUnreadySubgraphs>>;
  let token: string;

  before(async () => {
    database = await createTestDatabase();
    const env = await accountsEnvironment(database);
    accounts = await startServiceProcess('accounts', env);
    unready = await startUnreadySubgraphs();
    router = await startServiceProcess('router', routerEnvironment(env, accounts, unready.url));
    const signUp = await graphql(router.url, `mutation { signUp(input: { phone: "+201066600002", password: "long-password-1", name: "Load", role: RIDER }) { accessToken } }`);
    token = dataOf(signUp).signUp.accessToken;
  });

  after(async () => {
    await Promise.all([router?.stop(), accounts?.stop()]);
    await unready?.close();
    await database?.dispose();
  });

  it('answers or closes cleanly every request on kept-alive connections: none is reset', async () => {
    const url = new URL(router.url);
    const body = JSON.stringify({ query: '{ me { id } }' });
    const CLIENTS = 64;
    // Busy connections: each client sends its next request the moment an answer arrives.
    const busy = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    // Idle connections: kept alive, unused when the signal arrives, then used while the router drains.
    const idle = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let signalled = false;
    const outcomes: Outcome[] = [];
    let answeredBeforeSignal = 0;
    let signal!: () => void;
    const loadIsRunning = new Promise<void>((resolve) => (signal = resolve));
    let drainSeen!: () => void;
    const draining = new Promise<void>((resolve) => (drainSeen = resolve));
    const client = async () => {
      for (;;) {
        const outcome = await post(url, busy, body, token, () => signalled);
        outcomes.push(outcome);
        if (outcome.kind === 'answered' && !signalled && ++answeredBeforeSignal === CLIENTS * 10) signal();
        if (outcome.kind === 'answered' && outcome.closing) drainSeen();
        // A refusal is the end: the router has stopped listening. A failure is recorded and ends this client too.
        if (outcome.kind !== 'answered') return;
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    await loadIsRunning;
    // Used just before the signal, so they are idle but within the drain's grace when it begins.
    const warm = await Promise.all(Array.from({ length: 8 }, () => post(url, idle, body, token, () => signalled)));
    assert.ok(warm.every((outcome) => outcome.kind === 'answered'));
    assert.equal(Object.values(idle.freeSockets).flat().length, 8, 'eight idle kept-alive connections');
    signalled = true;
    const exited = new Promise<number | null>((resolve) => router.child.once('exit', resolve));
    router.child.kill('SIGTERM');
    // The router answers with Connection: close once it drains; now the idle connections are used.
    await draining;
    const late = await Promise.all(Array.from({ length: 8 }, () => post(url, idle, body, token, () => signalled)));
    await Promise.all(clients);
    assert.equal(await exited, 0, 'the router exits cleanly');
    busy.destroy();
    idle.destroy();

    const failed = [...outcomes, ...late].filter((outcome) => outcome.kind === 'failed');
    assert.deepEqual(failed, [], 'no request is reset or left unanswered');
    const afterSignal = outcomes.filter((outcome) => outcome.kind === 'answered' && outcome.afterSignal);
    assert.ok(afterSignal.some((outcome) => outcome.kind === 'answered' && outcome.closing), 'answers during the drain carry Connection: close');
    assert.equal(outcomes.filter((outcome) => outcome.kind === 'refused').length, CLIENTS, 'each client ends on a refused new connection');
    // The idle connections' requests, sent while the router drained, were answered (with Connection: close) or refused on a new connection.
    for (const outcome of late) assert.ok(outcome.kind === 'refused' || (outcome.kind === 'answered' && outcome.closing), JSON.stringify(outcome));
    console.log(
      `shutdown under load: ${outcomes.length} requests, ${afterSignal.length} answered after SIGTERM (${afterSignal.filter((outcome) => outcome.kind === 'answered' && outcome.closing).length} with Connection: close), ` +
        `late requests on idle connections: ${late.map((outcome) => outcome.kind).join(', ')}`,
    );
  });
});
