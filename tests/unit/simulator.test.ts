import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ROUTER_URL, parseSimulatorArguments, UsageError } from '../../clients/simulator/cli-arguments.ts';
import { SimulationStats } from '../../clients/simulator/stats.ts';
import { distanceM, StreetGrid } from '../../clients/simulator/streets.ts';
import { CAIRO_CENTER, seededRandom } from '../../platform/demo-city.ts';

describe('simulator street grid', () => {
  const grid = new StreetGrid(CAIRO_CENTER, 250);
  const onLine = (value: number) => Math.abs(value / 250 - Math.round(value / 250)) < 1e-9;

  it('routes along streets: every leg runs along one street, turning only at corners', () => {
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const from = { x: (random() - 0.5) * 6_000, y: (random() - 0.5) * 6_000 };
      const to = { x: (random() - 0.5) * 6_000, y: (random() - 0.5) * 6_000 };
      const { waypoints } = grid.route(from, to);
      assert.deepEqual(waypoints[0], grid.onStreet(from));
      assert.deepEqual(waypoints.at(-1), grid.onStreet(to));
      for (let leg = 1; leg < waypoints.length; leg++) {
        const [a, b] = [waypoints[leg - 1], waypoints[leg]];
        const alongColumn = a.x === b.x && onLine(a.x);
        const alongRow = a.y === b.y && onLine(a.y);
        assert.ok(alongColumn || alongRow, `leg ${leg} of ${JSON.stringify(waypoints)} is on a street`);
      }
      // No detour beyond the corners at either end.
      assert.ok(grid.route(from, to).remainingM <= Math.abs(to.x - from.x) + Math.abs(to.y - from.y) + 4 * 250 + 1e-6);
    }
  });

  it('drives straight along a shared street, with the heading of the movement', () => {
    const route = grid.route({ x: 250, y: 10 }, { x: 250, y: 180 });
    assert.deepEqual(route.waypoints, [{ x: 250, y: 10 }, { x: 250, y: 180 }]);
    route.advance(100);
    assert.equal(route.heading, 0);
    assert.deepEqual(route.position, { x: 250, y: 110 });
    route.advance(1_000);
    assert.ok(route.done);
    assert.deepEqual(route.position, { x: 250, y: 180 });
    const west = grid.route({ x: 500, y: 0 }, { x: 0, y: 0 });
    west.advance(1);
    assert.equal(west.heading, 270);
  });

  it('turns at corners, arriving after exactly the route length', () => {
    const route = grid.route({ x: 0, y: 0 }, { x: 500, y: 750 });
    assert.equal(route.remainingM, 1_250);
    route.advance(600);
    assert.equal(route.heading, 0, 'east first, then north');
    assert.equal(distanceM(route.position, { x: 500, y: 100 }), 0);
    route.advance(650);
    assert.ok(route.done);
  });

  it('converts between metres and degrees both ways', () => {
    const point = grid.toLatLng({ x: 1_000, y: -2_000 });
    const back = grid.toMeters(point);
    assert.ok(Math.abs(back.x - 1_000) < 1e-6 && Math.abs(back.y + 2_000) < 1e-6);
  });
});

describe('simulator arguments', () => {
  it('defaults to the local router and bounded sizes', () => {
    const args = parseSimulatorArguments([]);
    assert.deepEqual([args.routerUrl, args.drivers, args.riders, args.minutes], [DEFAULT_ROUTER_URL, 20, 10, 5]);
    assert.equal(parseSimulatorArguments(['--minutes', '0.25']).minutes, 0.25);
  });

  it('takes another machine only as an explicit --router URL, and refuses anything else', () => {
    assert.equal(parseSimulatorArguments(['--router', 'https://staging.example.test/graphql']).routerUrl, 'https://staging.example.test/graphql');
    for (const args of [['--router', 'ws://localhost:4000/graphql'], ['--router', 'not a url'], ['--router', 'http://user:pw@localhost:4000/graphql'], ['--drivers', '1.5'], ['--riders', '-1'], ['--minutes', '121'], ['--minutes', ''], ['stray']]) {
      assert.throws(() => parseSimulatorArguments(args), UsageError, args.join(' '));
    }
  });
});

describe('simulation stats', () => {
  it('measures request → first offer whichever arrives first, once per trip', () => {
    let now = 1_000;
    const stats = new SimulationStats(() => now);
    stats.booked('a', 1_000);
    now = 1_040;
    stats.offerSeen('a');
    now = 1_090;
    stats.offerSeen('a'); // a second driver's offer of the same trip
    now = 2_000;
    stats.offerSeen('b'); // the offer came before the booking's answer
    stats.booked('b', 1_980);
    stats.cancelled('NO_DRIVERS_FOUND');
    stats.error('CONFLICT');
    const snapshot = stats.snapshot();
    assert.deepEqual([snapshot.offerLatencyMs.count, snapshot.offerLatencyMs.p50, snapshot.offerLatencyMs.max], [2, 40, 40]);
    assert.deepEqual([snapshot.booked, snapshot.cancelledBy, snapshot.errors], [2, { NO_DRIVERS_FOUND: 1 }, { CONFLICT: 1 }]);
  });
});
