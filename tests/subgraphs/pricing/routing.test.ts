import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../../platform/errors.ts';
import { createOsrmRoutingProvider, createStraightLineRoutingProvider, haversineMeters, speedAt } from '../../../platform/routing.ts';

const PICKUP = { lat: 30.0444, lng: 31.2357 };
const DROPOFF = { lat: 30.0626, lng: 31.2497 };
/** Cairo local times in January 2026 (UTC+2): Sunday the 4th is a work day, Friday the 9th is not. */
const cairo = (day: number, time: string) => new Date(`2026-01-${String(day).padStart(2, '0')}T${time}:00+02:00`);

describe('straight-line routing', () => {
  it('measures great-circle distances', () => {
    // one degree of latitude is about 111.2 km
    assert.ok(Math.abs(haversineMeters({ lat: 30, lng: 31 }, { lat: 31, lng: 31 }) - 111_195) < 10);
    assert.equal(haversineMeters(PICKUP, PICKUP), 0);
  });

  it('estimates the road as 1.3 × the straight line, driven at 25 km/h off-peak, in whole metres and seconds', async () => {
    const straight = haversineMeters(PICKUP, DROPOFF);
    const route = await createStraightLineRoutingProvider().estimate(PICKUP, DROPOFF, { departAt: cairo(4, '12:00') });
    assert.equal(route.distanceM, Math.round(straight * 1.3));
    assert.equal(route.durationS, Math.round(route.distanceM / (25_000 / 3600)));
    assert.deepEqual(route, { distanceM: 3161, durationS: 455 });
  });

  it('drives slower in the rush hours of the work week and faster late at night', async () => {
    const routing = createStraightLineRoutingProvider();
    const duration = async (at: Date) => (await routing.estimate(PICKUP, DROPOFF, { departAt: at })).durationS;
    assert.equal(await duration(cairo(4, '08:00')), Math.round(3161 / (18_000 / 3600)), 'Sunday morning rush: 18 km/h');
    assert.equal(await duration(cairo(8, '17:30')), Math.round(3161 / (18_000 / 3600)), 'Thursday evening rush: 18 km/h');
    assert.equal(await duration(cairo(9, '08:00')), 455, 'Friday morning is no rush: 25 km/h');
    assert.equal(await duration(cairo(9, '02:00')), Math.round(3161 / (35_000 / 3600)), 'late night: 35 km/h');
    assert.deepEqual([speedAt(cairo(5, '06:59')), speedAt(cairo(5, '07:00')), speedAt(cairo(5, '10:00')), speedAt(cairo(5, '23:00'))], [25, 18, 25, 35]);
  });

  it('departs now unless told otherwise, by its own clock', async () => {
    const routing = createStraightLineRoutingProvider({ now: () => cairo(4, '08:00') });
    assert.equal((await routing.estimate(PICKUP, DROPOFF)).durationS, Math.round(3161 / 5));
  });

  it('takes its road factor, speeds and time zone as options', async () => {
    const route = await createStraightLineRoutingProvider({ roadFactor: 1, averageSpeedKmh: 36, speedWindows: [] }).estimate({ lat: 0, lng: 0 }, { lat: 0, lng: 0.01 });
    assert.equal(route.durationS, Math.round(route.distanceM / 10));
    // 06:00 UTC is 08:00 in Cairo (rush) but 06:00 in London (off-peak)
    assert.equal(speedAt(new Date('2026-01-04T06:00:00Z'), { timeZone: 'Europe/London' }), 25);
    assert.equal(speedAt(new Date('2026-01-04T06:00:00Z'), { timeZone: 'Africa/Cairo' }), 18);
  });
});

describe('OSRM routing', () => {
  type Handler = (req: IncomingMessage, res: ServerResponse) => void;
  let server: Server;
  let baseUrl: string;
  let handler: Handler;
  const requests: string[] = [];
  const json = (status: number, body: unknown): Handler => (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  before(async () => {
    // A tiny stand-in that answers like OSRM's /route/v1 service.
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const fallback = createStraightLineRoutingProvider({ speedWindows: [] });

  it('asks for the driving route, longitude first, and rounds its distance and duration', async () => {
    handler = json(200, { code: 'Ok', routes: [{ distance: 3456.7, duration: 512.4, legs: [] }], waypoints: [] });
    requests.length = 0;
    const route = await createOsrmRoutingProvider({ baseUrl: `${baseUrl}/` }).estimate(PICKUP, DROPOFF);
    assert.deepEqual(route, { distanceM: 3457, durationS: 512 });
    assert.deepEqual(requests, ['/route/v1/driving/31.2357,30.0444;31.2497,30.0626?overview=false']);
  });

  const failures: Array<[string, Handler]> = [
    ['an HTTP error', json(500, { code: 'InternalError' })],
    ['OSRM’s NoRoute', json(400, { code: 'NoRoute', message: 'Impossible route between points' })],
    ['an answer without routes', json(200, { code: 'Ok', routes: [] })],
    ['a route without a numeric distance', json(200, { code: 'Ok', routes: [{ distance: 'far', duration: 10 }] })],
    ['a body that is not JSON', (_req, res) => res.end('<html>bad gateway</html>')],
  ];
  for (const [what, failing] of failures) {
    it(`falls back to its fallback on ${what}, and says why`, async () => {
      handler = failing;
      const reasons: unknown[] = [];
      const route = await createOsrmRoutingProvider({ baseUrl, fallback, onFallback: (error) => reasons.push(error) }).estimate(PICKUP, DROPOFF);
      assert.deepEqual(route, await fallback.estimate(PICKUP, DROPOFF));
      assert.equal(reasons.length, 1);
    });
  }

  it('gives up on a slow answer after its timeout', async () => {
    let answer: (() => void) | undefined;
    handler = (_req, res) => {
      answer = () => json(200, { code: 'Ok', routes: [{ distance: 1, duration: 1 }] })(_req, res);
    };
    const started = Date.now();
    const route = await createOsrmRoutingProvider({ baseUrl, timeoutMs: 100, fallback }).estimate(PICKUP, DROPOFF);
    assert.equal(route.distanceM, 3161, 'the fallback answered');
    assert.ok(Date.now() - started < 2_000);
    answer?.();
  });

  it('without a fallback, fails with SERVICE_UNAVAILABLE', async () => {
    handler = json(503, { code: 'Busy' });
    await assert.rejects(createOsrmRoutingProvider({ baseUrl }).estimate(PICKUP, DROPOFF), (error: unknown) => error instanceof AppError && error.code === 'SERVICE_UNAVAILABLE');
  });

  it('fails the same way when nothing listens', async () => {
    await assert.rejects(createOsrmRoutingProvider({ baseUrl: 'http://127.0.0.1:9' }).estimate(PICKUP, DROPOFF), (error: unknown) => error instanceof AppError && error.code === 'SERVICE_UNAVAILABLE');
  });
});
