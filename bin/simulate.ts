/**
 * `npm run simulate -- --router URL --drivers N --riders M --minutes K`: simulated drivers and riders
 * against a router, with live progress and a summary (clients/simulator/). `--help` lists every option.
 */
import { parseSimulatorArguments, USAGE, UsageError, type SimulatorArguments } from '../clients/simulator/cli-arguments.ts';
import { runSimulator } from '../clients/simulator/cli.ts';

let args: SimulatorArguments;
try {
  args = parseSimulatorArguments(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${error.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// The first Ctrl-C ends the run early (with its summary); a second one ends the process at once.
const interrupted = new Promise<void>((resolve) => {
  process.once('SIGINT', () => {
    process.once('SIGINT', () => process.exit(130));
    resolve();
  });
});
try {
  process.exitCode = await runSimulator(args, { stdout: process.stdout, stderr: process.stderr, env: process.env, interrupted });
} catch (error) {
  process.stderr.write(`simulation failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
// Idle keep-alive sockets may linger a few seconds; nothing is left to do.
setTimeout(() => process.exit(), 2_000).unref();
