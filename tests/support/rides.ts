import assert from 'node:assert/strict';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { dataOf } from './client.ts';
import type { Stack, TestUser } from './stack.ts';

/** Central Cairo (Tahrir): where the test rides start. */
export const CAIRO = { lat: 30.0444, lng: 31.2357 };

/** A point `northM` meters north and `eastM` meters east of `origin` (flat-earth: fine under a few km). */
export function offset(origin: { lat: number; lng: number }, northM: number, eastM = 0) {
  return { lat: origin.lat + northM / 111_195, lng: origin.lng + eastM / (111_195 * Math.cos((origin.lat * Math.PI) / 180)) };
}

export interface RideDriver extends TestUser {
  driverId: string;
  plate: string;
}

const REGISTER = `mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`;
const APPROVE = `mutation($id: ID!) { approveDriver(driverId: $id) { id } }`;
const GO_ONLINE = `mutation { goOnline { id } }`;
const UPDATE_LOCATION = `mutation($input: LocationInput!) { updateLocation(input: $input) { accepted rejectedReason } }`;

let plates = 0;

/**
 * Drivers ready for dispatch, made through the router as the apps would: sign-up, registration,
 * approval by an admin, goOnline, and one fresh fix at `at`.
 */
export class RideFixtures {
  readonly stack: Stack;
  readonly #clients: Client[] = [];
  #admin: Promise<TestUser> | undefined;

  constructor(stack: Stack) {
    this.stack = stack;
  }

  admin(): Promise<TestUser> {
    this.#admin ??= this.stack.admin();
    return this.#admin;
  }

  async onlineDriverAt(at: { lat: number; lng: number }, type: 'ECONOMY' | 'COMFORT' | 'PREMIUM' | 'XL' = 'COMFORT'): Promise<RideDriver> {
    const driver = await this.approvedDriver(type);
    dataOf(await this.stack.query(GO_ONLINE, {}, { token: driver.accessToken }));
    await this.moveTo(driver, at);
    return driver;
  }

  /** A driver signed up, registered and approved, still OFFLINE (an app that has not started its shift). */
  async approvedDriver(type: 'ECONOMY' | 'COMFORT' | 'PREMIUM' | 'XL' = 'COMFORT'): Promise<RideDriver> {
    const user = await this.stack.signUp('DRIVER');
    plates += 1;
    const plate = `TRP ${process.pid % 10_000}-${plates}`;
    const vehicle = { type, make: 'Toyota', model: 'Corolla', color: 'White', plate, year: 2022 };
    const { id: driverId } = dataOf<any>(await this.stack.query(REGISTER, { v: vehicle }, { token: user.accessToken })).registerDriver;
    dataOf(await this.stack.query(APPROVE, { id: driverId }, { token: (await this.admin()).accessToken }));
    return { ...user, driverId, plate };
  }

  async moveTo(driver: RideDriver, at: { lat: number; lng: number }) {
    const result = dataOf<any>(await this.stack.query(UPDATE_LOCATION, { input: { ...at, accuracyM: 5, recordedAt: new Date().toISOString() } }, { token: driver.accessToken }));
    assert.equal(result.updateLocation.accepted, true, `fix refused: ${result.updateLocation.rejectedReason}`);
  }

  /** A graphql-ws client of the router signed in as `user`, disposed with the fixtures. */
  ws(user: TestUser): Client {
    const client = createClient({
      url: this.stack.routerUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${user.accessToken}` },
      retryAttempts: 0,
      lazy: true,
    });
    this.#clients.push(client);
    return client;
  }

  /** Subscribes and returns the event iterator once the subscription is running (its first event may be later). */
  subscribe<T = any>(user: TestUser, query: string, variables: Record<string, unknown> = {}): AsyncIterableIterator<{ data?: T; errors?: any[] }> {
    return this.ws(user).iterate({ query, variables }) as AsyncIterableIterator<{ data?: T; errors?: any[] }>;
  }

  async dispose() {
    await Promise.all(this.#clients.map((client) => client.dispose()));
  }
}

/**
 * Polls `probe` until it returns something other than undefined (at most `timeoutMs`, every `everyMs`):
 * waits for an outcome that happens elsewhere (a dispatch round, the relay), never a fixed sleep.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, options: { timeoutMs?: number; everyMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a condition'}`);
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 25));
  }
}

/** The next event of a subscription, failing the test after `timeoutMs` instead of hanging it. */
export async function nextEvent<T>(events: AsyncIterator<T>, timeoutMs = 10_000, what = 'a subscription event'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      events.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      }),
    ]);
    if (result.done) throw new Error(`the subscription ended while waiting for ${what}`);
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}
