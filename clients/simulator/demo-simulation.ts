/**
 * The simulated drivers of development `npm start`: the last `count` of the demo city's drivers, each
 * a DriverBot signed in with the demo password, through the router like any app. The first demo
 * drivers are never simulated, so people can sign in as them and drive by hand; a simulated one that
 * someone signs in as anyway is left alone as soon as they act (driver-bot.ts).
 */
import type { Logger } from 'pino';
import { CAIRO_CENTER, DEMO_PASSWORD, seededRandom, type DemoCity, type DemoDriver, type DemoUser } from '../../platform/demo-city.ts';
import { DriverBot, type DriverTiming } from './driver-bot.ts';
import { RouterClient } from './router-client.ts';
import { StreetGrid } from './streets.ts';

/** How far from Cairo's centre simulated demo drivers cruise. */
const DEMO_CRUISE_RADIUS_M = 4_000;

/** Bots sign in one after another this far apart (argon2 log-ins, and cars appearing one by one). */
const START_SPREAD_MS = 250;

export interface DemoSimulationOptions {
  routerUrl: string;
  city: DemoCity;
  /** How many demo drivers to simulate (at most all of them): the last ones. */
  count: number;
  logger: Logger;
  timing?: Partial<DriverTiming>;
  /** Seeds the bots' random choices (the same seed replays the same routes). */
  seed?: number;
}

export interface DemoSimulation {
  readonly bots: readonly DriverBot[];
  /** Waits for the bots' steps in flight, closes their sockets, takes cruising ones offline. */
  stop(): Promise<void>;
}

/** The demo drivers the simulation moves (and their users): the last `count` of the city's. */
export function simulatedDemoDrivers(city: DemoCity, count: number): Array<{ driver: DemoDriver; user: DemoUser }> {
  const chosen = city.drivers.slice(Math.max(0, city.drivers.length - count));
  return chosen.map((driver) => ({ driver, user: city.driverUsers.find((user) => user.id === driver.userId)! }));
}

export function startDemoSimulation(options: DemoSimulationOptions): DemoSimulation {
  const api = new RouterClient(options.routerUrl);
  const streets = new StreetGrid(CAIRO_CENTER);
  const seed = options.seed ?? 20261122;
  const bots = simulatedDemoDrivers(options.city, options.count).map(
    ({ driver, user }, i) =>
      new DriverBot({
        api,
        credentials: { phone: user.phone, password: DEMO_PASSWORD },
        driverId: driver.id,
        home: driver.position,
        // Demo drivers are parked up to 8 km out; cruising they gather where people look first.
        cruiseAround: CAIRO_CENTER,
        streets,
        random: seededRandom(seed + i),
        logger: options.logger.child({ plate: driver.vehicle.plate }),
        timing: { cruiseRadiusM: DEMO_CRUISE_RADIUS_M, ...options.timing },
        startDelayMs: i * START_SPREAD_MS,
      }),
  );
  return {
    bots,
    stop: async () => {
      await Promise.all(bots.map((bot) => bot.stop()));
    },
  };
}

/** The banner's line about the simulation: who is simulated (phones, so people know whom not to sign in as) and how to turn it off. */
export function describeDemoSimulation(city: DemoCity, count: number): string {
  const simulated = simulatedDemoDrivers(city, count);
  if (simulated.length === 0) return 'no demo driver is simulated (DEMO_SIMULATED_DRIVERS=0)';
  const range = simulated.length === 1 ? simulated[0].user.phone : `${simulated[0].user.phone} … ${simulated.at(-1)!.user.phone}`;
  return `${range} (${simulated.length} drivers) drive themselves and accept rides; DEMO_SIMULATION=false turns them off`;
}
