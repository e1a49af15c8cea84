import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../../platform/errors.ts';
import { httpDriverDirectory, type ServiceRequester } from '../../../subgraphs/trips/dispatch/directory.ts';

/** Stands in for drivers' HTTP API (the requester is the boundary httpDriverDirectory is written against). */
function fakeDrivers(answer: (query: string, variables: Record<string, any>) => unknown): ServiceRequester & { calls: Array<{ query: string; variables: Record<string, any> }> } {
  const calls: Array<{ query: string; variables: Record<string, any> }> = [];
  return {
    calls,
    async request<T>(query: string, variables: Record<string, unknown> = {}) {
      calls.push({ query, variables });
      await new Promise((resolve) => setImmediate(resolve)); // an answer arrives on a later turn, as over HTTP
      return answer(query, variables) as T;
    },
  };
}

const near = { lat: 30.04, lng: 31.23 };
const candidate = (driverId: string) => ({ driverId, userId: `u-${driverId}`, vehicleType: 'ECONOMY', distanceM: 100, lastSeenAt: new Date(0).toISOString(), rating: 4.5, acceptanceRate: 0.8, completionRate: 0.9, idleSeconds: 10 });

describe("trips' calls to drivers for dispatch", () => {
  it('sends the looks of trips dispatching at the same time in one call, and gives each trip its own answer', async () => {
    const drivers = fakeDrivers((_, { queries }) => ({ dispatchCandidatesBatch: queries.map((query: { first: number }) => ({ candidates: [candidate(`d${query.first}`)], error: null })) }));
    const directory = httpDriverDirectory(drivers);
    const answers = await Promise.all([1, 2, 3].map((first) => directory.candidates({ near, radiusM: 3000, vehicleTypes: ['ECONOMY'], first })));
    assert.equal(drivers.calls.length, 1);
    assert.deepEqual(drivers.calls[0]!.variables.queries.map((query: { first: number }) => query.first), [1, 2, 3]);
    assert.deepEqual(answers.map((found) => found.map((each) => each.driverId)), [['d1'], ['d2'], ['d3']]);
  });

  it('sends looks asked while a call is in flight together in the next call', async () => {
    const drivers = fakeDrivers((_, { queries }) => ({ dispatchCandidatesBatch: queries.map(() => ({ candidates: [], error: null })) }));
    const directory = httpDriverDirectory(drivers);
    const first = directory.candidates({ near, radiusM: 3000, vehicleTypes: ['ECONOMY'], first: 1 });
    await new Promise((resolve) => setImmediate(resolve)); // the first call is out
    const later = [2, 3, 4].map((n) => directory.candidates({ near, radiusM: 3000, vehicleTypes: ['ECONOMY'], first: n }));
    await Promise.all([first, ...later]);
    assert.deepEqual(drivers.calls.map((call) => call.variables.queries.length), [1, 3]);
  });

  it("refuses only the trip whose reservation drivers refused, with drivers' code", async () => {
    const drivers = fakeDrivers((_, { reservations }) => ({
      reserveDriversForOffers: reservations.map((reservation: { tripId: string; driverIds: string[] }) =>
        reservation.tripId === 'bad' ? { reserved: null, error: { code: 'BAD_USER_INPUT', message: 'tripId: must be a trip id' } } : { reserved: reservation.driverIds.slice(0, 1), error: null },
      ),
    }));
    const directory = httpDriverDirectory(drivers);
    const [good, bad] = await Promise.allSettled([directory.reserve('t1', ['a', 'b'], 1), directory.reserve('bad', ['c'], 1)]);
    assert.equal(drivers.calls.length, 1);
    assert.deepEqual(good, { status: 'fulfilled', value: ['a'] });
    assert.equal(bad.status, 'rejected');
    assert.ok(bad.reason instanceof AppError && bad.reason.code === 'BAD_USER_INPUT', String(bad.reason));
    assert.deepEqual(await directory.reserve('t2', [], 1), [], 'nothing to reserve: no call');
    assert.equal(drivers.calls.length, 1);
  });

  it('fails every look of a call drivers did not answer, once, without retrying each alone', async () => {
    const drivers = fakeDrivers(() => {
      throw new AppError('SERVICE_UNAVAILABLE', 'drivers did not answer.');
    });
    const directory = httpDriverDirectory(drivers);
    const outcomes = await Promise.allSettled([1, 2, 3].map((first) => directory.candidates({ near, radiusM: 3000, vehicleTypes: ['ECONOMY'], first })));
    assert.deepEqual(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as AppError).code), ['SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE']);
    assert.equal(drivers.calls.length, 1);
  });
});
