import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { errorCodes, type GraphQLResult } from '../support/client.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

type Caller = 'anonymous' | 'RIDER' | 'DRIVER' | 'ADMIN';
const CALLERS: Caller[] = ['anonymous', 'RIDER', 'DRIVER', 'ADMIN'];
const AUTH_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);

interface ContractField {
  name: string;
  allowed: Caller[];
  operation: () => { query: string; variables?: Record<string, unknown> };
}

let plateSequence = 0;
const CONTRACT: ContractField[] = [
  { name: 'me', allowed: ['RIDER', 'DRIVER', 'ADMIN'], operation: () => ({ query: `{ me { id name role } }` }) },
  {
    name: 'registerDriver',
    allowed: ['DRIVER'],
    operation: () => ({
      query: `mutation($v: VehicleInput!) { registerDriver(vehicle: $v) { id } }`,
      variables: { v: { type: 'ECONOMY', make: 'Nissan', model: 'Sunny', color: 'White', plate: `MTX ${++plateSequence}`, year: 2020 } },
    }),
  },
  { name: 'approveDriver', allowed: ['ADMIN'], operation: () => ({ query: `mutation { approveDriver(driverId: "${randomUUID()}") { id } }` }) },
  { name: 'driver', allowed: ['RIDER', 'DRIVER', 'ADMIN'], operation: () => ({ query: `{ driver(id: "${randomUUID()}") { id } }` }) },
  { name: 'pendingDrivers', allowed: ['ADMIN'], operation: () => ({ query: `{ pendingDrivers(first: 1) { edges { cursor } } }` }) },
  {
    name: 'fareEstimates',
    allowed: ['RIDER', 'ADMIN'],
    operation: () => ({ query: `{ fareEstimates(pickup: { lat: 30.0444, lng: 31.2357 }, dropoff: { lat: 30.0626, lng: 31.2497 }) { id fare { amount } } }` }),
  },
  {
    name: 'requestTrip',
    allowed: ['RIDER'],
    operation: () => ({ query: `mutation { requestTrip(input: { quoteId: "not-a-quote", paymentMethod: CASH }, idempotencyKey: "matrix-${randomUUID()}") { id } }` }),
  },
  { name: 'trip', allowed: ['RIDER', 'DRIVER', 'ADMIN'], operation: () => ({ query: `{ trip(id: "${randomUUID()}") { id } }` }) },
  { name: 'myTrips', allowed: ['RIDER', 'DRIVER'], operation: () => ({ query: `{ myTrips(first: 5) { edges { node { id } } pageInfo { hasNextPage } } }` }) },
  { name: 'User.wallet', allowed: ['RIDER', 'DRIVER', 'ADMIN'], operation: () => ({ query: `{ me { wallet { balance { amount currency } } } }` }) },
  { name: 'surgeMap', allowed: ['RIDER', 'DRIVER', 'ADMIN'], operation: () => ({ query: `{ surgeMap(center: { lat: 30.0444, lng: 31.2357 }, radiusM: 1000) { cells { h3Index } } }` }) },
  { name: 'nearbyDrivers', allowed: ['RIDER', 'ADMIN'], operation: () => ({ query: `{ nearbyDrivers(near: { lat: 30.0444, lng: 31.2357 }) { distanceM } }` }) },
  { name: 'goOnline', allowed: ['DRIVER'], operation: () => ({ query: `mutation { goOnline { availability } }` }) },
  ...(['acceptTripOffer', 'markArrived', 'startTrip', 'completeTrip'] as const).map((name) => ({
    name,
    allowed: ['DRIVER'] as Caller[],
    operation: () => ({ query: `mutation { ${name}(tripId: "${randomUUID()}") { id } }` }),
  })),
  { name: 'declineTripOffer', allowed: ['DRIVER'], operation: () => ({ query: `mutation { declineTripOffer(tripId: "${randomUUID()}") }` }) },
  { name: 'cancelTrip', allowed: ['RIDER', 'DRIVER'], operation: () => ({ query: `mutation { cancelTrip(tripId: "${randomUUID()}", reason: "changed my mind") { id } }` }) },
];

/** Every field of the contract, called by every kind of caller: reachable by its roles, denied to the rest. */
describe('the role matrix', () => {
  let stack: Stack;
  const users: Partial<Record<Caller, TestUser>> = {};

  before(async () => {
    stack = await startStack();
    users.RIDER = await stack.signUp('RIDER');
    users.DRIVER = await stack.signUp('DRIVER');
    users.ADMIN = await stack.admin();
  });
  after(() => stack.stop());

  for (const field of CONTRACT) {
    for (const caller of CALLERS) {
      const allowed = field.allowed.includes(caller);
      it(`${allowed ? 'lets' : 'denies'} ${caller === 'anonymous' ? 'an anonymous caller' : `a ${caller}`} ${allowed ? 'reach' : ''} ${field.name}`.replace('  ', ' '), async () => {
        const { query, variables } = field.operation();
        const result: GraphQLResult = await stack.query(query, variables, { token: users[caller as Exclude<Caller, 'anonymous'>]?.accessToken });
        const codes = errorCodes(result);
        if (allowed) {
          assert.ok(!codes.some((code) => AUTH_CODES.has(code)), `expected ${caller} to reach ${field.name}, got ${JSON.stringify(result.body.errors)}`);
        } else {
          const expected = caller === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN';
          assert.ok(codes.length > 0 && codes.every((code) => code === expected), `expected ${expected} for ${caller} on ${field.name}, got ${JSON.stringify(result.body)}`);
        }
      });
    }
  }

  it('lets anyone sign up, log in, refresh and log out', async () => {
    for (const query of [
      `mutation { logIn(phone: "+201009876543", password: "whatever-password") { accessToken } }`,
      `mutation { refreshSession(refreshToken: "unknown") { accessToken } }`,
      `mutation { logOut(refreshToken: "unknown") }`,
    ]) {
      const codes = errorCodes(await stack.query(query));
      assert.ok(!codes.some((code) => AUTH_CODES.has(code)), `${query} is open to anonymous callers (${codes})`);
    }
  });
});
