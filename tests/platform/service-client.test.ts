/**
 * Service calls pass the router's deadline on: the callee hears it (`x-request-deadline`), the call
 * waits only the time left, and a deadline already gone sends nothing. The callee is a plain HTTP
 * server of the test's own, on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../platform/config.ts';
import { AppError } from '../../platform/errors.ts';
import { createServiceClient } from '../../platform/service-client.ts';

describe('service calls under a deadline', () => {
  let server: Server;
  let url: string;
  const seen: IncomingHttpHeaders[] = [];
  let delayMs = 0;
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      setTimeout(() => res.end(JSON.stringify({ data: { ok: true } })), delayMs);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const client = () => {
    const config = loadConfig('trips', { NODE_ENV: 'test', DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'service-client-')) });
    return createServiceClient({ caller: 'trips', target: 'wallet', config, logger: pino({ level: 'silent' }), url: () => url });
  };

  it('sends the deadline on and answers within it', async () => {
    delayMs = 0;
    const deadline = Date.now() + 5_000;
    assert.deepEqual(await client().request('{ ok }', {}, { deadline }), { ok: true });
    assert.equal(seen.at(-1)!['x-request-deadline'], String(deadline));
  });

  it('gives up when the deadline passes, with DEADLINE_EXCEEDED, long before its own timeout', async () => {
    delayMs = 1_000;
    const started = Date.now();
    await assert.rejects(client().request('{ ok }', {}, { deadline: Date.now() + 100 }), (error: unknown) => error instanceof AppError && error.extensions.reason === 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - started < 900, `gave up after ${Date.now() - started} ms`);
  });

  it('sends nothing once the deadline has passed', async () => {
    const before = seen.length;
    await assert.rejects(client().request('{ ok }', {}, { deadline: Date.now() - 1 }), (error: unknown) => error instanceof AppError && error.extensions.reason === 'DEADLINE_EXCEEDED');
    assert.equal(seen.length, before);
  });
});
