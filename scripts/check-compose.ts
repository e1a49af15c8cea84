/**
 * Checks the resolved Compose model (`docker compose config` output, on stdin) against the
 * platform's own configuration: every service present with its default port, a readiness
 * healthcheck, healthy dependencies, only known environment variables, and the router's
 * subgraph URLs and the JWKS URL pointing at the Compose host names.
 *   docker-compose -f docker-compose.yml config | node scripts/check-compose.ts
 * Schema validity itself is Compose's job (`config -q`); this catches drift from platform/config.ts.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_PORTS, ENVIRONMENT_VARIABLES, SERVICE_NAMES, SUBGRAPH_NAMES } from '../platform/config.ts';

interface ComposeService {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
}

const model = parse(readFileSync(0, 'utf8')) as { services?: Record<string, ComposeService> };
const services = model.services ?? {};
const problems: string[] = [];
const expect = (ok: boolean, message: string) => {
  if (!ok) problems.push(message);
};

const known = new Set(ENVIRONMENT_VARIABLES);
const jwksUrl = `http://accounts:${DEFAULT_PORTS.accounts}/.well-known/jwks.json`;
const images = new Set<string | undefined>();

expect(services.postgres?.image?.startsWith('postgres:15') ?? false, 'postgres: expected image postgres:15');
expect(services.redis?.image?.startsWith('redis:7') ?? false, 'redis: expected image redis:7');

for (const name of SERVICE_NAMES) {
  const service = services[name];
  if (!service) {
    problems.push(`${name}: missing`);
    continue;
  }
  images.add(service.image);
  const command = Array.isArray(service.command) ? service.command : String(service.command ?? '').split(/\s+/);
  expect(command[0] === name, `${name}: command must start with "${name}" (the image's entrypoint is bin/service.ts)`);

  const env = service.environment ?? {};
  for (const key of Object.keys(env)) expect(known.has(key), `${name}: ${key} is not a variable platform/config.ts reads`);
  expect(String(env.PORT) === String(DEFAULT_PORTS[name]), `${name}: PORT must be ${DEFAULT_PORTS[name]}`);
  expect(env.JWKS_URL === jwksUrl, `${name}: JWKS_URL must be ${jwksUrl}`);
  expect(hostOf(env.REDIS_URL) === 'redis', `${name}: REDIS_URL must point at the redis service`);

  const test = [service.healthcheck?.test ?? []].flat().join(' ');
  expect(!service.healthcheck?.disable && test.includes('/health/ready'), `${name}: healthcheck must probe /health/ready`);

  const dependsOn = Array.isArray(service.depends_on) ? {} : (service.depends_on ?? {});
  const required = name === 'router' ? ['redis', ...SUBGRAPH_NAMES] : ['postgres', 'redis'];
  for (const dependency of required) {
    expect(dependsOn[dependency]?.condition === 'service_healthy', `${name}: must depend on ${dependency} with condition service_healthy`);
  }

  if (name === 'router') {
    for (const subgraph of SUBGRAPH_NAMES) {
      const key = `${subgraph.toUpperCase()}_URL`;
      const url = `http://${subgraph}:${DEFAULT_PORTS[subgraph]}/graphql`;
      expect(env[key] === url, `router: ${key} must be ${url}`);
    }
  } else {
    expect(hostOf(env.DATABASE_URL) === 'postgres', `${name}: DATABASE_URL must point at the postgres service`);
  }
}
expect(images.size === 1 && !images.has(undefined), `every SmartLine service must run the same image, got ${[...images].join(', ')}`);

if (problems.length > 0) {
  console.error(`docker-compose.yml:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`docker-compose.yml: ${SERVICE_NAMES.length} services, postgres and redis consistent with platform/config.ts`);

function hostOf(value: unknown): string | undefined {
  try {
    return new URL(String(value)).hostname;
  } catch {
    return undefined;
  }
}
