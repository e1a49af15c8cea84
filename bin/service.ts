/**
 * Runs one service as its own process, configured only by the environment:
 *   npm run service -- <router|accounts|drivers|trips|pricing|wallet>
 */
import { ConfigError, loadConfig, SERVICE_NAMES, type ServiceName } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { onShutdownSignal } from '../platform/lifecycle.ts';
import { startSubgraph } from '../platform/subgraph.ts';
import { startRouter } from '../router/router.ts';
import { SUBGRAPHS } from '../subgraphs/index.ts';

const name = process.argv[2] as ServiceName;
if (!SERVICE_NAMES.includes(name)) {
  console.error(`usage: npm run service -- <${SERVICE_NAMES.join('|')}>`);
  process.exit(2);
}

try {
  const config = loadConfig(name);
  const logger = createLogger(config);
  const running = name === 'router' ? await startRouter(config, { logger }) : await startSubgraph(SUBGRAPHS[name], config, { logger });
  onShutdownSignal(logger, () => running.stop());
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
