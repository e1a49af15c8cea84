/**
 * Embedded mode (`npm start`): the router and all five subgraphs in this one process, each subgraph
 * on its own embedded Postgres (PGlite under DATA_DIR, default .data/) unless DATABASE_URL is set,
 * in-process stand-ins where REDIS_URL is absent. Seeds the demo city when config.demo.data (DEMO_DATA:
 * default in development, refused in production, so production never seeds it), then prints where to go.
 */
import { performance } from 'node:perf_hooks';
import { describeDemoSimulation, startDemoSimulation, type DemoSimulation } from '../clients/simulator/demo-simulation.ts';
import { ConfigError, loadConfig, SUBGRAPH_NAMES, type ServiceConfig, type SubgraphName } from '../platform/config.ts';
import { buildDemoCity, DEMO_PASSWORD } from '../platform/demo-city.ts';
import { DataDirectoryInUseError } from '../platform/embedded-lock.ts';
import { onShutdownSignal } from '../platform/lifecycle.ts';
import { createLogger } from '../platform/logger.ts';
import { startSubgraph, type RunningSubgraph } from '../platform/subgraph.ts';
import { startRouter } from '../router/router.ts';
import { SUBGRAPHS } from '../subgraphs/index.ts';

const startedAt = performance.now();
try {
  const routerConfig = loadConfig('router');
  const logger = createLogger(routerConfig);
  // Subgraphs listen on free loopback ports; only the router is meant to be reached.
  const subgraphEnv: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: '0' };
  // Links the wallet hands out (the sandbox's checkout page) point at this router unless PUBLIC_URL says otherwise.
  subgraphEnv.PUBLIC_URL ||= `http://localhost:${routerConfig.port}`;
  // Every service's configuration is checked before any database is opened: a refusal touches nothing.
  for (const name of SUBGRAPH_NAMES) loadConfig(name, subgraphEnv);
  const city = buildDemoCity();
  const running: RunningSubgraph[] = [];
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  let simulation: DemoSimulation | undefined;
  const stopAll = async () => {
    await simulation?.stop(); // first: its drivers talk to the router
    await router?.stop();
    await Promise.all(running.map((subgraph) => subgraph.stop()));
  };
  onShutdownSignal(logger, stopAll);

  // Subgraphs call each other directly (trips → drivers). They start in parallel on free ports, so they
  // share one table of URLs, filled as each starts listening; service clients read it at every call.
  const subgraphUrls: Partial<Record<SubgraphName, string>> = {};
  const configFor = (name: SubgraphName): ServiceConfig => Object.freeze({ ...loadConfig(name, subgraphEnv), subgraphUrls });
  const start = async (name: SubgraphName) => {
    const subgraph = await startSubgraph(SUBGRAPHS[name], configFor(name), { logger: logger.child({ service: name }) });
    running.push(subgraph);
    subgraphUrls[name] = subgraph.url;
    return subgraph;
  };

  const accounts = await start('accounts');
  subgraphEnv.JWKS_URL = new URL('/.well-known/jwks.json', accounts.url).toString();
  await Promise.all(SUBGRAPH_NAMES.filter((name) => name !== 'accounts').map(start));
  running.sort((a, b) => SUBGRAPH_NAMES.indexOf(a.name) - SUBGRAPH_NAMES.indexOf(b.name));
  const seeded = routerConfig.demo.data;
  if (seeded) for (const subgraph of running) await SUBGRAPHS[subgraph.name].seedDemo?.(subgraph.runtime, city);

  router = await startRouter(routerConfig, {
    logger: logger.child({ service: 'router' }),
    jwksUrl: subgraphEnv.JWKS_URL,
    subgraphUrls: Object.fromEntries(running.map((subgraph) => [subgraph.name, subgraph.url])),
  });
  const { simulation: simulating, simulatedDrivers } = routerConfig.demo;
  if (simulating) simulation = startDemoSimulation({ routerUrl: router.url, city, count: simulatedDrivers, logger: logger.child({ service: 'simulation' }) });

  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const embedded = running[0].db.kind === 'pglite';
  const storage = embedded ? `PGlite under ${routerConfig.dataDir}/` : 'Postgres at DATABASE_URL';
  const noDemo = `
No demo data (${routerConfig.production ? 'production never seeds it' : 'DEMO_DATA=false'}). To create the first admin${embedded ? ', stop this server (an embedded database has one writer at a time), then run' : ', run'}
  ADMIN_PASSWORD='...' npm run create-admin -- --phone +201000000001 --name "Ops Admin"
(docs/operations.md).`;
  console.log(`
SmartLine is up in ${seconds} s (embedded mode: ${storage}${routerConfig.redis ? `, Redis (${routerConfig.redis.kind})` : ', no Redis'}).

  ${routerConfig.production ? 'GraphQL:        ' : 'Apollo Sandbox: '} ${router.url}
  Health:          ${router.url.replace('/graphql', '/health/ready')}
${seeded ? `
Demo data seeded into ${storage} (DEMO_DATA=false starts without it).
Demo logins (password for all: ${DEMO_PASSWORD}):
  admin   ${city.admin.phone}
  rider   ${city.riders[0].phone}   (and ${city.riders.length - 1} more: ${city.riders[1].phone} ...)
  driver  ${city.driverUsers[0].phone}   (${city.drivers.length} approved drivers of every vehicle type)
  simulated  ${simulating ? describeDemoSimulation(city, simulatedDrivers) : 'none (DEMO_SIMULATION=false)'}

  mutation { logIn(phone: "${city.riders[0].phone}", password: "${DEMO_PASSWORD}") { accessToken } }
  then send  Authorization: Bearer <accessToken>  and try  { me { name } myTrips(first: 5) { edges { node { status fare { amount currency } } } } }
` : noDemo}`);
} catch (error) {
  console.error(error instanceof ConfigError || error instanceof DataDirectoryInUseError ? error.message : error);
  process.exit(1);
}
