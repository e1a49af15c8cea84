/**
 * Runs one service as its own process, configured only by the environment:
 *   npm run service -- <router|accounts|drivers|trips|pricing|wallet>
 *   npm run service -- router --supergraph FILE     (any supergraph file; same as SUPERGRAPH_PATH)
 * The router reloads its supergraph file on SIGHUP.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, SERVICE_NAMES, type ServiceName } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { onShutdownSignal } from '../platform/lifecycle.ts';
import { startSubgraph } from '../platform/subgraph.ts';
import { startRouter } from '../router/router.ts';
import { SUBGRAPHS } from '../subgraphs/index.ts';

const usage = `usage: npm run service -- <${SERVICE_NAMES.join('|')}> [--supergraph FILE]`;
let args: ReturnType<typeof parseCommandLine>;
try {
  args = parseCommandLine();
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const name = args.positionals[0] as ServiceName;
if (args.positionals.length !== 1 || !SERVICE_NAMES.includes(name) || (args.values.supergraph && name !== 'router')) {
  console.error(usage);
  process.exit(2);
}

function parseCommandLine() {
  return parseArgs({ allowPositionals: true, options: { supergraph: { type: 'string' } } });
}

try {
  const config = loadConfig(name, args.values.supergraph ? { ...process.env, SUPERGRAPH_PATH: args.values.supergraph } : process.env);
  const logger = createLogger(config);
  if (name === 'router') {
    const router = await startRouter(config, { logger });
    process.on('SIGHUP', () => {
      router.reloadSupergraph();
      router.reloadPersistedOperations();
    });
    onShutdownSignal(logger, () => router.stop());
  } else {
    const subgraph = await startSubgraph(SUBGRAPHS[name], config, { logger, processMetrics: true });
    onShutdownSignal(logger, () => subgraph.stop());
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
