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

export type DemoTripStatus = 'REQUESTED' | 'DRIVER_ASSIGNED' | 'IN_PROGRESS' | 'COMPLETED' | 'CANCELLED';

export interface DemoTrip {
  id: string;
  quoteId: string;
  riderId: string;
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

  const statuses: DemoTripStatus[] = ['COMPLETED', 'COMPLETED', 'CANCELLED', 'COMPLETED', 'IN_PROGRESS', 'DRIVER_ASSIGNED', 'REQUESTED'];
  const trips: DemoTrip[] = [];
  riders.forEach((rider, r) => {
    const count = r < 5 ? 6 : 2;
    for (let t = 0; t < count; t++) {
      // Only the last trip of a rider may be active: a rider has at most one active trip.
      const status = t === count - 1 ? statuses[(r + 4) % statuses.length] : (['COMPLETED', 'CANCELLED'] as const)[(r + t) % 3 === 2 ? 1 : 0];
      const vehicleType = VEHICLE_TYPES[(r + t) % VEHICLE_TYPES.length];
      // Active trips get distinct drivers: a driver holds one trip at a time (trips enforces it with a unique index).
      const driver = status === 'REQUESTED' ? null : drivers.filter((d) => d.vehicle.type === vehicleType)[(r * 3 + t) % 13];
      const distanceM = 2_000 + Math.floor(rnd() * 15_000);
      const durationS = Math.floor(distanceM / 7) + 120;
      trips.push({
        id: demoId(`trip:${r}:${t}`),
        quoteId: demoId(`quote:${r}:${t}`),
        riderId: rider.id,
        driverId: status === 'CANCELLED' && t % 2 === 0 ? null : (driver?.id ?? null),
        status,
        vehicleType,
        pickup: near(6),
        dropoff: near(10),
        fareMinor: BigInt(Math.max(1500, Math.round((1000 + distanceM * 0.35 + durationS * 0.8) / 50) * 50)),
        distanceM,
        durationS,
        paymentMethod: t % 3 === 0 ? 'WALLET' : 'CASH',
        requestedAt: new Date(now.getTime() - (count - t) * 86_400_000 - r * 3_600_000),
      });
    }
  });

  return { admin: DEMO_ADMIN, riders, driverUsers, drivers, trips };
}
