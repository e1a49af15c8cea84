import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVICE_ENTRY = fileURLToPath(new URL('../../bin/service.ts', import.meta.url));

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node bin/service.ts <name>` as its own process on a free port and resolves once its
 * "listening" log line names the URL (no sleeping, no port guessing).
 */
export function startServiceProcess(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [SERVICE_ENTRY, name], {
    env: { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: env.NODE_ENV ?? 'test' },
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
