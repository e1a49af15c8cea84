/**
 * `npm run simulate`: simulated drivers and riders against a router, with live progress. Drivers are
 * DriverBots (the same as `npm start`'s), riders RiderBots that book near free drivers; both use only
 * the public API of the one router URL given.
 */
import { pino } from 'pino';
import { CAIRO_CENTER, DEMO_PASSWORD, seededRandom } from '../../platform/demo-city.ts';
import { DEMO_ADMIN_PHONE, isLoopback, type SimulatorArguments } from './cli-arguments.ts';
import { CITY_TIMING, DriverBot } from './driver-bot.ts';
import { ProgressDisplay, type ProgressView } from './progress.ts';
import { Approver, forEachLimited, provisionDriver, provisionRider, type SimulatedDriver } from './provision.ts';
import { RiderBot, type RideTarget } from './rider-bot.ts';
import { RouterClient } from './router-client.ts';
import { SimulationStats } from './stats.ts';
import { StreetGrid } from './streets.ts';

/** After booking stops, rides under way get this long to finish before the rest are cancelled. */
const FINISHING_MS = 60_000;
/** Sign-ups at once (each hashes a password on the server). */
const PROVISIONING_CONCURRENCY = 4;

export interface SimulatorIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  /** Resolves when the user asks to stop early (Ctrl-C). */
  interrupted: Promise<void>;
}

/** Runs the simulation to its end; the exit code (0 when it ran, 1 when it could not start). */
export async function runSimulator(args: SimulatorArguments, io: SimulatorIo): Promise<number> {
  const logger = pino({ level: io.env.LOG_LEVEL ?? 'error' }, pino.destination({ dest: 2, sync: true }));
  const stats = new SimulationStats();
  // Errors count from the run on: a rerun's sign-ups are answered CONFLICT (then log in) by design.
  const api = new RouterClient(args.routerUrl, { onError: (code) => stats.error(code) });
  const setup = new RouterClient(args.routerUrl);
  const streets = new StreetGrid(CAIRO_CENTER);
  const random = seededRandom(args.seed);
  const where = isLoopback(new URL(args.routerUrl)) ? '' : ' (not this machine: as given with --router)';
  io.stdout.write(`SmartLine simulator → ${args.routerUrl}${where}: signing in ${args.drivers} drivers and ${args.riders} riders…\n`);

  const adminPassword = io.env.ADMIN_PASSWORD ?? (args.adminPhone === DEMO_ADMIN_PHONE ? DEMO_PASSWORD : undefined);
  const approver = new Approver(setup, { phone: args.adminPhone, password: adminPassword ?? '' });
  const [driverResults, riderResults] = [
    await forEachLimited(args.drivers, PROVISIONING_CONCURRENCY, (i) => provisionDriver(setup, i, approver)),
    await forEachLimited(args.riders, PROVISIONING_CONCURRENCY, (i) => provisionRider(setup, i)),
  ];
  const failures = [...driverResults, ...riderResults].flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []));
  for (const failure of new Set(failures.map((error) => error.message))) io.stderr.write(`could not prepare a simulated user: ${failure}\n`);
  const ready = driverResults.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (ready.length === 0) {
    io.stderr.write('no simulated driver could be prepared: nothing to simulate\n');
    return 1;
  }

  const drivers = ready.map((driver, i) => ({ driver, bot: startDriver(driver, i) }));
  function startDriver(driver: SimulatedDriver, i: number) {
    return new DriverBot({
      api,
      credentials: driver.credentials,
      driverId: driver.driverId,
      home: streets.toLatLng(streets.randomCorner(streets.toMeters(CAIRO_CENTER), args.areaKm * 1000, random)),
      cruiseAround: CAIRO_CENTER,
      streets,
      random: seededRandom(args.seed * 7919 + i),
      logger: logger.child({ plate: driver.plate }),
      stats,
      timing: {
        tickMs: 500,
        acceptAfterMs: args.acceptS * 1000,
        boardingMs: args.acceptS * 1000,
        tripSpeedKmh: args.speedKmh,
        cruiseSpeedKmh: Math.min(CITY_TIMING.cruiseSpeedKmh, args.speedKmh),
        cruiseRadiusM: args.areaKm * 1000,
      },
      startDelayMs: i * 100,
    });
  }
  // Riders book next to a driver who is cruising (free), in that driver's class.
  const nextTarget = (): RideTarget | undefined => {
    const free = drivers.filter(({ bot }) => bot.phase === 'cruising');
    const chosen = free[Math.floor(random() * free.length)];
    return chosen && { position: chosen.bot.position, vehicleType: chosen.driver.vehicleType };
  };
  const riders = riderResults.flatMap((result, i) =>
    result.status === 'fulfilled'
      ? [
          new RiderBot({
            api,
            credentials: result.value,
            streets,
            random: seededRandom(args.seed * 104_729 + i),
            logger,
            stats,
            nextTarget,
            timing: { thinkMs: args.thinkS * 1000, tripM: args.tripKm * 1000, pickupWithinM: Math.min(400, (args.tripKm * 1000) / 2) },
            // Drivers sign in first; riders then start one by one over a pause.
            startDelayMs: ready.length * 100 + Math.round(((i + 1) / args.riders) * args.thinkS * 1000),
          }),
        ]
      : [],
  );

  const startedAt = Date.now();
  const bookingMs = Math.round(args.minutes * 60_000);
  let stage: ProgressView['stage'] = 'booking';
  const view = (): ProgressView => ({
    routerUrl: args.routerUrl,
    elapsedMs: Date.now() - startedAt,
    bookingMs,
    stage,
    drivers: {
      total: drivers.length,
      online: drivers.filter(({ bot }) => ['cruising', 'to-pickup', 'at-pickup', 'to-dropoff'].includes(bot.phase)).length,
      onTrip: drivers.filter(({ bot }) => ['to-pickup', 'at-pickup', 'to-dropoff'].includes(bot.phase)).length,
      backingOff: drivers.filter(({ bot }) => bot.phase === 'backing-off').length,
    },
    riders: { total: riders.length, riding: riders.filter((rider) => rider.riding).length },
    stats: stats.snapshot(),
  });
  const display = new ProgressDisplay(io.stdout, view);

  // These waits hold the process open (the bots' own timers do not).
  const interrupted = io.interrupted.then(() => 'interrupted' as const);
  const ended = await waitAtMost(bookingMs, interrupted);
  stage = 'finishing rides';
  if (ended !== 'interrupted') await waitAtMost(FINISHING_MS, Promise.race([Promise.all(riders.map((rider) => rider.finishRides())), interrupted]));
  else display.note('interrupted: stopping now');
  await Promise.all(riders.map((rider) => rider.stop()));
  await Promise.all(drivers.map(({ bot }) => bot.stop()));
  display.finish();
  return 0;
}

/** `work`'s outcome, or 'timeout' after `ms` (a timer that keeps the process alive meanwhile, cleared after). */
async function waitAtMost<T>(ms: number, work: Promise<T>): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, ms, 'timeout')))]);
  } finally {
    clearTimeout(timer);
  }
}
