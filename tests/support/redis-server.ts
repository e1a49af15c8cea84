/**
 * A redis-server of the test's own, on a free loopback port: tests that stop and restart Redis (a fault
 * suite) must never touch the shared one. Skipped (with the reason) where the binary is absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  /** Kills the server at once (as a crash or a node failure would), and waits until it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (nothing was saved). */
  start(): Promise<void>;
  /** Kills it for good. */
  stop(): Promise<void>;
}

/** Why these tests cannot run here, or undefined when redis-server is installed. */
export function ownRedisUnavailable(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.error ? 'needs the redis-server binary (apt-get install redis-server) to start a Redis of its own' : undefined;
}

/** A loopback port nothing listens on now (a server started next on it may race another; tests accept that). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts `redis-server` with `args` and resolves once it accepts connections (a sentinel: once it has
 * its id); rejects with the end of its output if it exits first.
 */
export async function spawnRedisServer(args: readonly string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready to accept connections|Sentinel ID is/.test(output)) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server ${args.join(' ')} exited (${code}): ${output.slice(-500)}`)));
    child.once('error', reject);
  });
  return child;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    child = await spawnRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };

  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, start, stop: kill };
}
