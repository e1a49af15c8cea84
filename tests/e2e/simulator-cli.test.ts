import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { runToExit } from '../support/commands.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

const SIMULATE_ENTRY = fileURLToPath(new URL('../../bin/simulate.ts', import.meta.url));
const ENV = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn' };

describe('npm run simulate (bin/simulate.ts)', () => {
  let stack: Stack;
  let admin: TestUser;

  before(async () => {
    stack = await startStack({ env: { OUTBOX_POLL_MS: '100', DRIVER_COOLDOWN_MS: '500' } });
    admin = await stack.admin();
  });
  after(() => stack?.stop());

  it('signs up its drivers and riders, runs rides to completion for a bounded time and prints a summary', async () => {
    const args = ['--router', stack.routerUrl, '--drivers', '4', '--riders', '3', '--minutes', '0.3', '--speed-kmh', '150', '--trip-km', '0.4', '--area-km', '0.5', '--accept-s', '0.5', '--think-s', '1', '--admin-phone', admin.phone];
    const started = Date.now();
    const { code, stdout, stderr } = await runToExit(SIMULATE_ENTRY, args, { ...ENV, ADMIN_PASSWORD: admin.password });
    assert.equal(code, 0, `exit ${code}\n${stdout}\n${stderr}`);
    assert.ok(Date.now() - started < 0.3 * 60_000 + 60_000 + 30_000, 'booking time, at most a minute to finish rides, and the sign-ups');
    // Not a terminal: plain progress lines, then the summary.
    assert.match(stdout, /^\[0:0\d\] booking: drivers \d+ online/m);
    const summary = stdout.slice(stdout.indexOf('Simulation over'));
    assert.match(summary, /^Simulation over after \d+:\d\d against http:\/\/127\.0\.0\.1:\d+\/graphql \(4 drivers, 3 riders\)\./);
    const completed = Number(/completed (\d+)/.exec(summary)?.[1]);
    assert.ok(completed > 0, `rides completed:\n${summary}`);
    assert.match(summary, /request → first offer seen by a driver: p50 \d+ ms · p95 \d+ ms · p99 \d+ ms \(\d+ trips\)/);

    // A rerun logs the same users in (no new sign-ups, no approvals needed: no admin password given).
    const rerun = await runToExit(SIMULATE_ENTRY, ['--router', stack.routerUrl, '--drivers', '4', '--riders', '0', '--minutes', '0.05', '--admin-phone', admin.phone], ENV);
    assert.equal(rerun.code, 0, `${rerun.stdout}\n${rerun.stderr}`);
    assert.doesNotMatch(rerun.stderr, /could not prepare/);
    assert.match(rerun.stdout, /^errors {3}none$/m, 'a sign-up answered CONFLICT (then a log-in) is not an error of the run');
  });

  it('exits 2 with the usage on a bad argument', async () => {
    for (const args of [['--drivers', '0'], ['--minutes', '500'], ['--router', 'ftp://example.test/graphql'], ['--unknown']]) {
      const { code, stdout, stderr } = await runToExit(SIMULATE_ENTRY, args, ENV);
      assert.equal(code, 2, `${args.join(' ')}: ${stdout}${stderr}`);
      assert.match(stderr, /usage: npm run simulate -- \[options\]/);
      assert.equal(stdout, '');
    }
  });
});
