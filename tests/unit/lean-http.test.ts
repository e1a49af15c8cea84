import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LeanHttpPool } from '../../bench/lean-http.ts';

/** The benchmarks' load generator client must read what our servers send, or every figure is wrong. */
describe("the benchmarks' HTTP client", () => {
  let server: http.Server;
  let url: string;
  const connections = new Set<unknown>();

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"part":');
          res.end(`${JSON.stringify(body)},"auth":${JSON.stringify(req.headers.authorization ?? null)}}`);
        } else if (body === 'hang up') {
          req.socket.destroy();
        } else {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ echo: body, auth: req.headers.authorization }));
        }
      });
    });
    server.on('connection', (socket) => connections.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the body and headers and reads a response with a Content-Length', async () => {
    const pool = new LeanHttpPool(`${url}/graphql`, 2);
    const answer = await pool.post('{"query":"{ me { id } }","é":1}', 'authorization: Bearer t\r\n');
    assert.deepEqual([answer.status, JSON.parse(answer.body)], [201, { echo: '{"query":"{ me { id } }","é":1}', auth: 'Bearer t' }]);
    pool.close();
  });

  it('reads a chunked response', async () => {
    const pool = new LeanHttpPool(`${url}/chunked`, 1);
    const answer = await pool.post('{"a":1}', '');
    assert.deepEqual(JSON.parse(answer.body), { part: '{"a":1}', auth: null });
    pool.close();
  });

  it('keeps at most `size` connections, queueing the rest, and reuses them', async () => {
    const before = connections.size;
    const pool = new LeanHttpPool(`${url}/graphql`, 3);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.post(`{"i":${i}}`, '')));
    assert.deepEqual(answers.map((answer) => JSON.parse(JSON.parse(answer.body).echo).i), Array.from({ length: 20 }, (_, i) => i));
    assert.equal(connections.size - before, 3);
    pool.close();
  });

  it('fails a request whose connection the server drops, and serves the next one on a new connection', async () => {
    const pool = new LeanHttpPool(`${url}/graphql`, 1);
    await assert.rejects(pool.post('hang up', ''), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET');
    assert.equal((await pool.post('{}', '')).status, 201);
    pool.close();
  });
});
