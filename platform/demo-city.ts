import { createHash } from 'node:crypto';

/**
 * The demo city (Cairo) seeded by `npm start`. Every subgraph seeds its own part of this one
 * description, so ids line up across subgraphs without any subgraph reading another's tables.
 * Everything is derived deterministically: seeding twice changes nothing.
 */
export const DEMO_PASSWORD = 'demo-password-123';
export const DEMO_ADMIN = { id: demoId('user:admin'), phone: '+201000000000', name: 'Demo Admin', role: 'ADMIN' as const };
export const CAIRO_CENTER = { lat: 30.0444, lng: 31.2357 };
export const VEHICLE_TYPES = ['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'] as const;
export type DemoVehicleType = (typeof VEHICLE_TYPES)[number];
export const DEMO_CURRENCY = 'EGP';

export interface DemoUser {
  id: string;
  phone: string;
  name: string;
  role: 'RIDER' | 'DRIVER' | 'ADMIN';
}

export interface DemoDriver {
  id: string;
  userId: string;
  vehicle: { type: DemoVehicleType; make: string; model: string; color: string; plate: string; year: number };
  position: { lat: number; lng: number };
  approvedAt: Date;
}

/** Seeded history is finished: no demo rider is left with an active trip, no demo driver looks busy. */
export type DemoTripStatus = 'COMPLETED' | 'CANCELLED';

/** Who ended a cancelled demo trip and why. Demo cancellations are all free (none is a late rider cancellation). */
export interface DemoCancellation {
  by: 'RIDER' | 'DRIVER' | 'SYSTEM';
  reason: string;
}

export interface DemoTrip {
  id: string;
  quoteId: string;
  riderId: string;
  /** The driver who accepted it; null for a trip cancelled before anyone did. */
  driverId: string | null;
  status: DemoTripStatus;
  vehicleType: DemoVehicleType;
  pickup: { lat: number; lng: number };
  dropoff: { lat: number; lng: number };
  fareMinor: bigint;
  distanceM: number;
  durationS: number;
  paymentMethod: 'CASH' | 'WALLET';
  requestedAt: Date;
  /** Each step's time, null for the steps the trip never reached (as trips stamps them). */
  assignedAt: Date | null;
  arrivedAt: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
  cancelledAt: Date | null;
  cancellation: DemoCancellation | null;
  /** Offer rounds dispatch ran (3 for a trip nobody accepted). */
  dispatchRounds: number;
}

export interface DemoCity {
  admin: DemoUser;
  riders: DemoUser[];
  driverUsers: DemoUser[];
  drivers: DemoDriver[];
  trips: DemoTrip[];
}

/** A stable UUID (v5 layout) from a name, so every subgraph derives the same ids. */
export function demoId(name: string): string {
  const hex = createHash('sha1').update(`smartline-demo:${name}`).digest('hex').slice(0, 32).split('');
  hex[12] = '5';
  hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const FIRST_NAMES = ['Ahmed', 'Mona', 'Omar', 'Sara', 'Youssef', 'Nour', 'Karim', 'Layla', 'Hassan', 'Salma', 'Tarek', 'Dina', 'Mahmoud', 'Hana', 'Amr'];
const CARS: Record<DemoVehicleType, Array<[string, string]>> = {
  ECONOMY: [['Hyundai', 'Accent'], ['Nissan', 'Sunny'], ['Chevrolet', 'Lanos']],
  COMFORT: [['Toyota', 'Corolla'], ['Kia', 'Cerato'], ['Skoda', 'Octavia']],
  PREMIUM: [['Mercedes-Benz', 'E 200'], ['BMW', '520i'], ['Audi', 'A6']],
  XL: [['Toyota', 'Hiace'], ['Kia', 'Carnival'], ['Hyundai', 'H-1']],
};
const COLORS = ['White', 'Silver', 'Black', 'Grey', 'Blue', 'Red'];

/** A small deterministic PRNG (mulberry32): the city is the same on every machine, a failing random test can be replayed. */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round6 = (value: number) => Math.round(value * 1e6) / 1e6;

export function buildDemoCity(now: Date = new Date('2026-11-01T12:00:00.000Z')): DemoCity {
  const rnd = seededRandom(20261122);
  const near = (spreadKm: number) => ({
    lat: round6(CAIRO_CENTER.lat + ((rnd() - 0.5) * 2 * spreadKm) / 111),
    lng: round6(CAIRO_CENTER.lng + ((rnd() - 0.5) * 2 * spreadKm) / 96),
  });

  const riders: DemoUser[] = Array.from({ length: 10 }, (_, i) => ({
    id: demoId(`user:rider:${i}`),
    phone: `+2010100000${String(i).padStart(2, '0')}`,
    name: `${FIRST_NAMES[i % FIRST_NAMES.length]} Rider`,
    role: 'RIDER',
  }));

  const driverUsers: DemoUser[] = [];
  const drivers: DemoDriver[] = [];
  for (let i = 0; i < 52; i++) {
    const type = VEHICLE_TYPES[i % VEHICLE_TYPES.length];
    const [make, model] = CARS[type][i % 3];
    const user: DemoUser = { id: demoId(`user:driver:${i}`), phone: `+2011200000${String(i).padStart(2, '0')}`, name: `${FIRST_NAMES[(i + 3) % FIRST_NAMES.length]} Driver`, role: 'DRIVER' };
    driverUsers.push(user);
    drivers.push({
      id: demoId(`driver:${i}`),
      userId: user.id,
      vehicle: { type, make, model, color: COLORS[i % COLORS.length], plate: `CAI ${1000 + i}`, year: 2016 + (i % 9) },
      position: near(8),
      approvedAt: new Date(now.getTime() - (60 - i) * 86_400_000),
    });
  }

  // A separate stream for the trips' timelines, so the places and fares drawn from `rnd` stay what
  // earlier versions seeded (an existing data directory keeps matching this description).
  const timing = seededRandom(20261123);
  const between = (fromS: number, toS: number) => Math.round((fromS + timing() * (toS - fromS)) * 1000);
  const trips: DemoTrip[] = [];
  riders.forEach((rider, r) => {
    const count = r < 5 ? 6 : 2;
    for (let t = 0; t < count; t++) {
      const outcome = t === count - 1 ? LAST_TRIP_OUTCOMES[(r + 4) % LAST_TRIP_OUTCOMES.length] : (r + t) % 3 === 2 ? 'RIDER_CANCELLED' : 'COMPLETED';
      const vehicleType = VEHICLE_TYPES[(r + t) % VEHICLE_TYPES.length];
      const driver = drivers.filter((d) => d.vehicle.type === vehicleType)[(r * 3 + t) % 13];
      // Every other rider cancellation came before anyone accepted; nobody accepted a NO_DRIVERS_FOUND trip.
      const matched = outcome === 'COMPLETED' || outcome === 'DRIVER_CANCELLED' || (outcome === 'RIDER_CANCELLED' && t % 2 === 1);
      const distanceM = 2_000 + Math.floor(rnd() * 15_000);
      const durationS = Math.floor(distanceM / 7) + 120;
      const requestedAt = new Date(now.getTime() - (count - t) * 86_400_000 - r * 3_600_000);
      trips.push({
        id: demoId(`trip:${r}:${t}`),
        quoteId: demoId(`quote:${r}:${t}`),
        riderId: rider.id,
        driverId: matched ? driver.id : null,
        status: outcome === 'COMPLETED' ? 'COMPLETED' : 'CANCELLED',
        vehicleType,
        pickup: near(6),
        dropoff: near(10),
        fareMinor: BigInt(Math.max(1500, Math.round((1000 + distanceM * 0.35 + durationS * 0.8) / 50) * 50)),
        distanceM,
        durationS,
        paymentMethod: t % 3 === 0 ? 'WALLET' : 'CASH',
        requestedAt,
        ...timeline(outcome, matched, requestedAt, durationS, between),
      });
    }
  });

  return { admin: DEMO_ADMIN, riders, driverUsers, drivers, trips };
}

/** How a demo trip ended. Cancellations are free: riders cancelled within the grace period, or before anyone accepted. */
type DemoOutcome = 'COMPLETED' | 'RIDER_CANCELLED' | 'DRIVER_CANCELLED' | 'NO_DRIVERS_FOUND';

/**
 * The outcome of each rider's latest trip. Earlier versions left the latest trips of six riders active
 * (IN_PROGRESS, DRIVER_ASSIGNED, REQUESTED at the last three places); they finished as a ride would:
 * the ride in progress completed, the assigned driver cancelled, the request found no driver.
 */
const LAST_TRIP_OUTCOMES: readonly DemoOutcome[] = ['COMPLETED', 'COMPLETED', 'RIDER_CANCELLED', 'COMPLETED', 'COMPLETED', 'DRIVER_CANCELLED', 'NO_DRIVERS_FOUND'];

/** One dispatch round's offer timeout (trips' default): a trip nobody accepted ended after three. */
const OFFER_ROUND_MS = 15_000;

type Timeline = Pick<DemoTrip, 'assignedAt' | 'arrivedAt' | 'startedAt' | 'completedAt' | 'cancelledAt' | 'cancellation' | 'dispatchRounds'>;

/** When each step of a finished trip happened, as the lifecycle would have stamped them. */
function timeline(outcome: DemoOutcome, matched: boolean, requestedAt: Date, durationS: number, between: (fromS: number, toS: number) => number): Timeline {
  const at = (from: Date, ms: number) => new Date(from.getTime() + ms);
  const none = { assignedAt: null, arrivedAt: null, startedAt: null, completedAt: null, cancelledAt: null, cancellation: null, dispatchRounds: 1 };
  if (outcome === 'NO_DRIVERS_FOUND') {
    return { ...none, cancelledAt: at(requestedAt, 3 * OFFER_ROUND_MS), cancellation: { by: 'SYSTEM', reason: 'NO_DRIVERS_FOUND' }, dispatchRounds: 3 };
  }
  if (!matched) return { ...none, cancelledAt: at(requestedAt, between(10, 40)), cancellation: { by: 'RIDER', reason: 'Changed my plans' } };
  const assignedAt = at(requestedAt, between(15, 90));
  if (outcome === 'RIDER_CANCELLED') {
    // Within the two-minute grace period after assignment: no fee.
    return { ...none, assignedAt, cancelledAt: at(assignedAt, between(20, 100)), cancellation: { by: 'RIDER', reason: 'Found another ride' } };
  }
  const arrivedAt = at(assignedAt, between(180, 540));
  if (outcome === 'DRIVER_CANCELLED') {
    return { ...none, assignedAt, arrivedAt, cancelledAt: at(arrivedAt, between(300, 420)), cancellation: { by: 'DRIVER', reason: 'Rider did not come to the pickup' } };
  }
  const startedAt = at(arrivedAt, between(30, 180));
  return { ...none, assignedAt, arrivedAt, startedAt, completedAt: at(startedAt, durationS * 1000) };
}

/** When a finished demo trip ended (completed or cancelled). */
export function demoTripEndedAt(trip: DemoTrip): Date {
  return (trip.completedAt ?? trip.cancelledAt)!;
}
