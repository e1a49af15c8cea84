/**
 * The simulator's own users, made through the public API: the same phone numbers on every run (so a
 * rerun logs them in instead of signing up more), drivers registered and approved by an admin.
 */
import { ApiError, type RouterClient } from './router-client.ts';
import { Session, type Credentials } from './session.ts';

/** Every simulated user's password (they are test users on whatever router the simulator is pointed at). */
export const SIMULATOR_PASSWORD = 'simulator-password-1';
const VEHICLE_TYPES = ['ECONOMY', 'COMFORT', 'PREMIUM', 'XL'] as const;
const CARS = { ECONOMY: ['Hyundai', 'Accent'], COMFORT: ['Toyota', 'Corolla'], PREMIUM: ['Mercedes-Benz', 'E 200'], XL: ['Kia', 'Carnival'] } as const;

/** Simulated drivers are +201555000000, +201555000001, …; riders +201556000000, … */
export const simulatedDriverPhone = (i: number) => `+201555${String(i).padStart(6, '0')}`;
export const simulatedRiderPhone = (i: number) => `+201556${String(i).padStart(6, '0')}`;

export interface SimulatedDriver {
  credentials: Credentials;
  driverId: string;
  vehicleType: string;
  plate: string;
}

const ME = `query SimMe { me { role driverProfile { id approvalStatus vehicle { type plate } } } }`;
const REGISTER = `mutation SimRegisterDriver($vehicle: VehicleInput!) { registerDriver(vehicle: $vehicle) { id approvalStatus vehicle { type plate } } }`;
const APPROVE = `mutation SimApproveDriver($driverId: ID!) { approveDriver(driverId: $driverId) { id } }`;

interface Profile {
  id: string;
  approvalStatus: string;
  vehicle: { type: string; plate: string };
}

/** Approves new drivers; signs in the first time one is needed. */
export class Approver {
  readonly #session: Session;
  #signedIn: Promise<void> | undefined;

  constructor(api: RouterClient, admin: Credentials) {
    this.#session = new Session(api, admin);
  }

  async approve(driverId: string): Promise<void> {
    this.#signedIn ??= this.#session.logIn().catch((error) => {
      throw new Error(`approving new simulated drivers needs an admin: log-in as ${this.#session.credentials.phone} failed (${(error as ApiError).code ?? error}); pass --admin-phone and ADMIN_PASSWORD`);
    });
    await this.#signedIn;
    await this.#session.fresh();
    await this.#session.request(APPROVE, { driverId });
  }
}

/** Simulated driver `i`: signed up (or logged in), registered, approved. */
export async function provisionDriver(api: RouterClient, i: number, approver: Approver): Promise<SimulatedDriver> {
  const credentials = { phone: simulatedDriverPhone(i), password: SIMULATOR_PASSWORD };
  const session = new Session(api, credentials);
  await session.signUpOrLogIn(`Sim Driver ${i + 1}`, 'DRIVER');
  const { me } = await session.request<{ me: { role: string; driverProfile: Profile | null } }>(ME);
  if (me.role !== 'DRIVER') throw new Error(`${credentials.phone} is a ${me.role}, not a driver`);
  let profile = me.driverProfile;
  if (!profile) {
    const type = VEHICLE_TYPES[i % VEHICLE_TYPES.length];
    const [make, model] = CARS[type];
    const vehicle = { type, make, model, color: 'White', plate: `SIM ${i + 1}`, year: 2022 };
    profile = (await session.request<{ registerDriver: Profile }>(REGISTER, { vehicle })).registerDriver;
  }
  if (profile.approvalStatus === 'PENDING') await approver.approve(profile.id);
  else if (profile.approvalStatus !== 'APPROVED') throw new Error(`driver ${profile.vehicle.plate} is ${profile.approvalStatus}`);
  return { credentials, driverId: profile.id, vehicleType: profile.vehicle.type, plate: profile.vehicle.plate };
}

/** Simulated rider `i`: signed up, or logged in on a rerun. */
export async function provisionRider(api: RouterClient, i: number): Promise<Credentials> {
  const credentials = { phone: simulatedRiderPhone(i), password: SIMULATOR_PASSWORD };
  await new Session(api, credentials).signUpOrLogIn(`Sim Rider ${i + 1}`, 'RIDER');
  return credentials;
}

/** Runs `work` for 0..count-1, `concurrency` at a time (sign-ups hash passwords: not all at once). */
export async function forEachLimited<T>(count: number, concurrency: number, work: (i: number) => Promise<T>): Promise<Array<PromiseSettledResult<T>>> {
  const results: Array<PromiseSettledResult<T>> = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await work(i).then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason) => ({ status: 'rejected', reason }) as const,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
