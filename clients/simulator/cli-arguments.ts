/**
 * The simulator CLI's arguments: parsed, bounded, and explained in one usage text.
 */
import { parseArgs } from 'node:util';

export const DEFAULT_ROUTER_URL = 'http://localhost:4000/graphql';
export const DEMO_ADMIN_PHONE = '+201000000000';

export const USAGE = `usage: npm run simulate -- [options]

  --router URL        the router to talk to (default ${DEFAULT_ROUTER_URL}); the simulator talks to
                      this one URL only (HTTP, and graphql-ws on the same URL), never a redirect
  --drivers N         simulated drivers, 1 to 500 (default 20)
  --riders M          simulated riders, 0 to 500 (default 10)
  --minutes K         how long riders keep booking, more than 0 and at most 120 (default 5; 0.5 is 30 s);
                      then at most a minute for the rides under way to finish
  --admin-phone P     the admin who approves new simulated drivers (default the demo admin ${DEMO_ADMIN_PHONE});
                      the password comes from ADMIN_PASSWORD (default: the demo password, for the demo admin)
  --speed-kmh S       driving speed on a trip, 5 to 180 (default 40)
  --trip-km D         typical ride length, 0.2 to 30 (default 3)
  --area-km R         drivers start and cruise within R of Cairo's centre, 0.5 to 20 (default 3)
  --accept-s A        how long a driver looks at an offer, and a rider takes to get in, 0 to 15 (default 3)
  --think-s T         a rider's pause between rides, 0 to 600 (default 5)
  --seed N            seeds every random choice (default 1)
  --help              this text`;

export class UsageError extends Error {}

export interface SimulatorArguments {
  routerUrl: string;
  drivers: number;
  riders: number;
  minutes: number;
  adminPhone: string;
  speedKmh: number;
  tripKm: number;
  areaKm: number;
  acceptS: number;
  thinkS: number;
  seed: number;
  help: boolean;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname) || url.hostname.startsWith('127.');
}

/** A number option within [min, max] (whole when `integer`); the default when absent. */
function bounded(name: string, raw: string | undefined, fallback: number, min: number, max: number, integer: boolean, exclusiveMin = false): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  const tooLow = exclusiveMin ? value <= min : value < min;
  if (raw.trim() === '' || !Number.isFinite(value) || tooLow || value > max || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'and at most' : 'to'} ${max}, not "${raw}"`);
  }
  return value;
}

export function parseSimulatorArguments(argv: string[]): SimulatorArguments {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        router: { type: 'string' },
        drivers: { type: 'string' },
        riders: { type: 'string' },
        minutes: { type: 'string' },
        'admin-phone': { type: 'string' },
        'speed-kmh': { type: 'string' },
        'trip-km': { type: 'string' },
        'area-km': { type: 'string' },
        'accept-s': { type: 'string' },
        'think-s': { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const text = (name: string) => values[name] as string | undefined;
  return {
    routerUrl: routerUrlOf(text('router')),
    drivers: bounded('drivers', text('drivers'), 20, 1, 500, true),
    riders: bounded('riders', text('riders'), 10, 0, 500, true),
    minutes: bounded('minutes', text('minutes'), 5, 0, 120, false, true),
    adminPhone: text('admin-phone') ?? DEMO_ADMIN_PHONE,
    speedKmh: bounded('speed-kmh', text('speed-kmh'), 40, 5, 180, false),
    tripKm: bounded('trip-km', text('trip-km'), 3, 0.2, 30, false),
    areaKm: bounded('area-km', text('area-km'), 3, 0.5, 20, false),
    acceptS: bounded('accept-s', text('accept-s'), 3, 0, 15, false),
    thinkS: bounded('think-s', text('think-s'), 5, 0, 600, false),
    seed: bounded('seed', text('seed'), 1, 0, 2 ** 31, true),
    help: values.help === true,
  };
}

/**
 * The router URL: the loopback default, or whatever `--router` names (http or https). A machine other
 * than this one is only ever reached because someone typed its URL; nothing else (no environment
 * variable, no default) can point the simulator elsewhere.
 */
function routerUrlOf(given: string | undefined): string {
  if (given === undefined) return DEFAULT_ROUTER_URL;
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`--router must be a URL such as ${DEFAULT_ROUTER_URL}, not "${given}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--router must be an http or https URL, not "${given}"`);
  if (url.username || url.password) throw new UsageError('--router must not carry credentials');
  return url.toString();
}
