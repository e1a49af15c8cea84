/**
 * A stand-in for a street map: straight streets every `spacingM` metres, north–south and east–west,
 * around a centre. There is no map in this project; a grid is enough for cars that visibly drive along
 * streets, turn at corners and report a heading that matches their movement. Positions are metres east
 * (x) and north (y) of the centre; a flat earth is exact enough over the few kilometres of a city.
 */
import type { LatLng } from '../../platform/geo.ts';

export interface Meters {
  readonly x: number;
  readonly y: number;
}

const METERS_PER_DEGREE_LAT = 111_195;

export class StreetGrid {
  readonly center: LatLng;
  readonly spacingM: number;
  readonly #metersPerDegreeLng: number;

  constructor(center: LatLng, spacingM = 250) {
    this.center = center;
    this.spacingM = spacingM;
    this.#metersPerDegreeLng = METERS_PER_DEGREE_LAT * Math.cos((center.lat * Math.PI) / 180);
  }

  toLatLng(point: Meters): LatLng {
    return { lat: this.center.lat + point.y / METERS_PER_DEGREE_LAT, lng: this.center.lng + point.x / this.#metersPerDegreeLng };
  }

  toMeters(point: LatLng): Meters {
    return { x: (point.lng - this.center.lng) * this.#metersPerDegreeLng, y: (point.lat - this.center.lat) * METERS_PER_DEGREE_LAT };
  }

  /** The nearest point on any street (the curb a car stops at for a pickup anywhere). */
  onStreet(point: Meters): Meters {
    const column = this.#nearestLine(point.x);
    const row = this.#nearestLine(point.y);
    return Math.abs(point.x - column) <= Math.abs(point.y - row) ? { x: column, y: point.y } : { x: point.x, y: row };
  }

  /** The nearest corner (crossing of two streets). */
  corner(point: Meters): Meters {
    return { x: this.#nearestLine(point.x), y: this.#nearestLine(point.y) };
  }

  /**
   * Waypoints from `from` to `to` (both snapped onto streets) along streets: to a corner of the street
   * we are on, along one axis, then the other, to the corner of the destination's street, then along it.
   */
  route(from: Meters, to: Meters): Route {
    const start = this.onStreet(from);
    const end = this.onStreet(to);
    const sameColumn = start.x === end.x && this.#isLine(start.x);
    const sameRow = start.y === end.y && this.#isLine(start.y);
    if (sameColumn || sameRow) return new Route(simplify([start, end]));
    const a = this.#cornerAlong(start, end);
    const b = this.#cornerAlong(end, start);
    return new Route(simplify([start, a, { x: b.x, y: a.y }, b, end]));
  }

  /** A street corner at most `radiusM` from `around`, drawn with `random` (0..1). */
  randomCorner(around: Meters, radiusM: number, random: () => number): Meters {
    const angle = random() * 2 * Math.PI;
    const distance = Math.sqrt(random()) * radiusM;
    return this.corner({ x: around.x + Math.cos(angle) * distance, y: around.y + Math.sin(angle) * distance });
  }

  #nearestLine(value: number): number {
    return Math.round(value / this.spacingM) * this.spacingM;
  }

  #isLine(value: number): boolean {
    return Math.abs(value - this.#nearestLine(value)) < 1e-6;
  }

  /** The corner a car on `point`'s street reaches first on its way towards `towards`. */
  #cornerAlong(point: Meters, towards: Meters): Meters {
    const onColumn = this.#isLine(point.x);
    if (onColumn && this.#isLine(point.y)) return point;
    const step = (value: number, target: number) => (target >= value ? Math.ceil(value / this.spacingM) : Math.floor(value / this.spacingM)) * this.spacingM;
    // On a north–south street (x on a line) the next corner is up or down it; otherwise left or right.
    return onColumn ? { x: point.x, y: step(point.y, towards.y) } : { x: step(point.x, towards.x), y: point.y };
  }
}

/** Drops repeated points and corners that do not turn, so every leg is one straight stretch of street. */
function simplify(points: Meters[]): Meters[] {
  const distinct = points.filter((point, i) => i === 0 || distanceM(point, points[i - 1]) > 0.01);
  return distinct.filter((point, i) => {
    if (i === 0 || i === distinct.length - 1) return true;
    const before = distinct[i - 1];
    const after = distinct[i + 1];
    const straight = (before.x === point.x && point.x === after.x) || (before.y === point.y && point.y === after.y);
    return !straight;
  });
}

export function distanceM(a: Meters, b: Meters): number {
  return Math.hypot(b.x - a.x, b.y - a.y);
}

/** Degrees clockwise from north of the movement from `a` to `b` (0 north, 90 east). */
export function headingOf(a: Meters, b: Meters): number {
  const degrees = (Math.atan2(b.x - a.x, b.y - a.y) * 180) / Math.PI;
  return (degrees + 360) % 360;
}

/** A car's progress along waypoints: `advance` moves it by a distance and says where it is and where it faces. */
export class Route {
  readonly waypoints: readonly Meters[];
  #leg = 0;
  #position: Meters;
  #heading: number | null = null;

  constructor(waypoints: readonly Meters[]) {
    if (waypoints.length === 0) throw new Error('a route needs at least one point');
    this.waypoints = waypoints;
    this.#position = waypoints[0];
  }

  get position(): Meters {
    return this.#position;
  }

  /** The direction of the last movement (null before the first). */
  get heading(): number | null {
    return this.#heading;
  }

  get done(): boolean {
    return this.#leg >= this.waypoints.length - 1;
  }

  /** What is left to drive, in metres. */
  get remainingM(): number {
    let total = 0;
    let from = this.#position;
    for (let i = this.#leg + 1; i < this.waypoints.length; i++) {
      total += distanceM(from, this.waypoints[i]);
      from = this.waypoints[i];
    }
    return total;
  }

  advance(byM: number): void {
    let left = byM;
    while (left > 0 && !this.done) {
      const target = this.waypoints[this.#leg + 1];
      const gap = distanceM(this.#position, target);
      if (gap > 0) this.#heading = headingOf(this.#position, target);
      if (gap <= left) {
        this.#position = target;
        this.#leg += 1;
        left -= gap;
      } else {
        const share = left / gap;
        this.#position = { x: this.#position.x + (target.x - this.#position.x) * share, y: this.#position.y + (target.y - this.#position.y) * share };
        left = 0;
      }
    }
  }
}
