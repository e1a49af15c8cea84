import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { trackConnections } from '../../platform/drain.ts';

/** A bare HTTP server with the drain, answering `/slow` when `release` is called, everything else at once. */
async function serve() {
  const held: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') held.push(() => res.end('slow'));
    else res.end('fast');
  });
  const drainer = trackConnections(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, drainer, port, held };
}

function get(port: number, path: string, agent: http.Agent): Promise<{ body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.once('end', () => resolve({ body, connection: response.headers.connection }));
      })
      .once('error', reject);
  });
}

describe('draining an HTTP server', () => {
  it('answers the request in flight with Connection: close, then finishes once it is written', async () => {
    const { server, drainer, port, held } = await serve();
    const agent = new http.Agent({ keepAlive: true });
    const arrived = new Promise((resolve) => server.once('request', resolve));
    const answer = get(port, '/slow', agent);
    await arrived;
    const drained = drainer.drain({ timeoutMs: 10_000, idleGraceMs: 60_000 });
    held.shift()!();
    assert.deepEqual(await answer, { body: 'slow', connection: 'close' });
    // Its connection closed with the answer: nothing is left to wait for, not even the idle grace.
    assert.deepEqual(await drained, { cut: 0 });
    agent.destroy();
  });

  it('keeps an idle kept-alive connection open for the grace, answering a request on it with Connection: close', async () => {
    const { drainer, port } = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await get(port, '/', agent)).connection, 'keep-alive');
    const drained = drainer.drain({ timeoutMs: 10_000, idleGraceMs: 60_000 });
    // The listener is closed, the kept-alive connection is not: the request it carries is answered.
    assert.deepEqual(await get(port, '/', agent), { body: 'fast', connection: 'close' });
    assert.deepEqual(await drained, { cut: 0 });
    agent.destroy();
  });

  it('closes a kept-alive connection once it has been idle for the grace', async () => {
    const { drainer, port } = await serve();
    const agent = new http.Agent({ keepAlive: true });
    await get(port, '/', agent);
    const closed = new Promise((resolve) => Object.values(agent.freeSockets).flat()[0]!.once('close', resolve));
    const started = performance.now();
    assert.deepEqual(await drainer.drain({ timeoutMs: 10_000, idleGraceMs: 200 }), { cut: 0 });
    await closed;
    assert.ok(performance.now() - started >= 150, 'not before the grace');
    agent.destroy();
  });

  it('cuts a request slower than the deadline, and says so', async () => {
    const { server, drainer, port } = await serve();
    const agent = new http.Agent({ keepAlive: true });
    const arrived = new Promise((resolve) => server.once('request', resolve));
    const answer = get(port, '/slow', agent);
    await arrived;
    assert.deepEqual(await drainer.drain({ timeoutMs: 200, idleGraceMs: 60_000 }), { cut: 1 });
    await assert.rejects(answer, { code: 'ECONNRESET' });
    agent.destroy();
  });
});
