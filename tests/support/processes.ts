import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_FLAGS } from '../../platform/node-flags.ts';

const SERVICE_ENTRY = fileURLToPath(new URL('../../bin/service.ts', import.meta.url));

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node bin/service.ts <name>` as its own process on a free port (or on `env.PORT`, to bring a
 * stopped service back where its callers expect it) and resolves once its
 * "listening" log line names the URL (no sleeping, no port guessing).
 */
export function startServiceProcess(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, SERVICE_ENTRY, name], {
    env: { ...env, PORT: env.PORT ?? '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: env.NODE_ENV ?? 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let entry: { msg?: string; url?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === `${name} listening` && entry.url) {
        resolve({
          name,
          url: entry.url,
          child,
          async stop() {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    exited.then((code) => reject(new Error(`${name} exited with ${code} before listening:\n${stderr}`)));
  });
}

/** Which subgraphs call which directly (service clients): a caller starts once its targets listen. */
const CALLS: Readonly<Record<string, readonly string[]>> = { trips: ['drivers', 'wallet'], drivers: ['wallet'] };

/**
 * Starts subgraph processes on free ports, each after the subgraphs it calls, with their URLs in its
 * environment (`DRIVERS_URL` for trips, ...); the rest start in parallel. accounts' JWKS_URL is the
 * caller's to set in `env`.
 */
export async function startSubgraphProcesses(names: string[], env: Record<string, string>): Promise<ServiceProcess[]> {
  const started = new Map<string, Promise<ServiceProcess>>();
  const start = (name: string): Promise<ServiceProcess> => {
    let running = started.get(name);
    if (!running) {
      running = (async () => {
        const targets = await Promise.all((CALLS[name] ?? []).filter((target) => names.includes(target)).map(start));
        const urls = Object.fromEntries(targets.map((target) => [`${target.name.toUpperCase()}_URL`, target.url]));
        return startServiceProcess(name, { ...env, ...urls });
      })();
      started.set(name, running);
    }
    return running;
  };
  const results = await Promise.allSettled(names.map(start));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) {
    await Promise.all(results.flatMap((result) => (result.status === 'fulfilled' ? [result.value.stop()] : [])));
    throw (failed as PromiseRejectedResult).reason;
  }
  return results.map((result) => (result as PromiseFulfilledResult<ServiceProcess>).value);
}
