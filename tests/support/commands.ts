import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `npm start`'s entry and the operator command, as files. */
export const START_ENTRY = fileURLToPath(new URL('../../bin/start.ts', import.meta.url));
export const CREATE_ADMIN_ENTRY = fileURLToPath(new URL('../../bin/create-admin.ts', import.meta.url));

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <entry> ...args` to its end with exactly this environment (nothing inherited). */
export function runToExit(entry: string, args: string[], env: Record<string, string>): Promise<Finished> {
  const child = spawn(process.execPath, [entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface EmbeddedProcess {
  readonly child: ChildProcess;
  /** The router's GraphQL URL from the start-up banner. */
  readonly url: string;
  /** Everything printed on stdout so far (the banner included). */
  stdout(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node bin/start.ts` (what `npm start` runs) and resolves once its banner names the router's
 * URL; rejects with its output if it exits first. PORT=0, HOST=127.0.0.1 and DEMO_SIMULATION=false (no
 * simulated drivers moving under a test) unless `env` says otherwise.
 */
export function startEmbeddedProcess(env: Record<string, string>): Promise<EmbeddedProcess> {
  const child = spawn(process.execPath, [START_ENTRY], { env: { PORT: '0', HOST: '127.0.0.1', DEMO_SIMULATION: 'false', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const banner = /SmartLine is up[\s\S]*?(http:\/\/\S+\/graphql)\b/.exec(stdout);
      if (banner) {
        resolve({
          child,
          url: banner[1],
          stdout: () => stdout,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    exited.then((code) => reject(new Error(`bin/start.ts exited with ${code} before it was up:\n${stdout}\n${stderr}`)));
  });
}
