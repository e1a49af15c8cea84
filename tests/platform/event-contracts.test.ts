import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Kind, parse, type EnumTypeDefinitionNode } from 'graphql';
import { CANCELLED_BY, PAYMENT_METHODS, SupplySnapshot, TripCancelled, TripCompleted, TripMatched, TripRequested, TripStarted, VEHICLE_TYPES } from '../../platform/events/contracts/index.ts';
import { EventContractViolation, type AnyEventContract } from '../../platform/events/index.ts';

/** Asserts `contract` refuses `data`, naming `field` and why. */
function refuses(contract: AnyEventContract, data: unknown, problem: RegExp) {
  for (const read of [contract.parse, contract.check]) {
    assert.throws(
      () => read(data),
      (error: unknown) => error instanceof EventContractViolation && error.type === contract.type && problem.test(error.message),
      `${contract.type} refuses it with ${problem}`,
    );
  }
}

const sdlEnum = (subgraph: string, name: string) => {
  const document = parse(readFileSync(new URL(`../../subgraphs/${subgraph}/schema.graphql`, import.meta.url), 'utf8'));
  const found = document.definitions.find((definition): definition is EnumTypeDefinitionNode => definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === name);
  return found?.values?.map((value) => value.name.value);
};

const parties = { tripId: randomUUID(), riderId: randomUUID(), driverId: randomUUID(), driverUserId: randomUUID() };
const requested = {
  tripId: parties.tripId, riderId: parties.riderId, quoteId: randomUUID(), vehicleType: 'COMFORT', pickup: { lat: 30.0444, lng: 31.2357 }, dropoff: { lat: 30.06, lng: 31.25 },
  fareMinor: '8750', currency: 'EGP', paymentMethod: 'WALLET', requestedAt: '2026-05-01T08:30:00.000Z',
};
const completed = { ...parties, fareMinor: '8750', commissionMinor: '1313', currency: 'EGP', paymentMethod: 'CASH', completedAt: '2026-05-01T09:00:00.000Z' };
const cancelled = { ...parties, cancelledBy: 'RIDER', reason: 'plans changed', feeMinor: '0', currency: 'EGP', cancelledAt: '2026-05-01T08:35:00.000Z' };

describe("trips' event contracts", () => {
  it('reads a payload of each type as it was written', () => {
    const valid = [
      [TripRequested, requested],
      [TripMatched, { ...parties, vehicleType: 'XL', matchedAt: '2026-05-01T08:31:00.123Z' }],
      [TripStarted, { ...parties, startedAt: '2026-05-01T08:40:00Z' }],
      [TripCompleted, completed],
      [TripCancelled, cancelled],
      [TripCancelled, { ...cancelled, driverId: null, driverUserId: null, cancelledBy: 'SYSTEM', reason: 'NO_DRIVERS_FOUND' }],
    ] as const;
    for (const [contract, data] of valid) assert.deepEqual(contract.check(data), data, contract.type);
  });

  it('refuses money that is a float, a number, signed or in major units', () => {
    for (const fareMinor of ['87.50', '8750.0', 8750, -8750, '-8750', '1e4', ' 8750', '08750', '']) refuses(TripCompleted, { ...completed, fareMinor }, /fareMinor: /);
    refuses(TripCancelled, { ...cancelled, feeMinor: 25.5 }, /feeMinor: /);
  });

  it('refuses a payload missing a field', () => {
    const { requestedAt: _, ...withoutTime } = requested;
    refuses(TripRequested, withoutTime, /requestedAt: /);
    const { commissionMinor: __, ...withoutCommission } = completed;
    refuses(TripCompleted, withoutCommission, /commissionMinor: /);
  });

  it('refuses a time that is not ISO-8601 in UTC', () => {
    for (const completedAt of ['2026-05-01T11:00:00+02:00', '2026-05-01 09:00:00', '2026-05-01', 'Fri, 01 May 2026 09:00:00 GMT', 1777626000000]) {
      refuses(TripCompleted, { ...completed, completedAt }, /completedAt: /);
    }
  });

  it('refuses a value outside its enum', () => {
    refuses(TripRequested, { ...requested, vehicleType: 'BIKE' }, /vehicleType: /);
    refuses(TripCompleted, { ...completed, paymentMethod: 'card' }, /paymentMethod: /);
    refuses(TripCancelled, { ...cancelled, cancelledBy: 'ADMIN' }, /cancelledBy: /);
    refuses(TripRequested, { ...requested, currency: 'XYZ' }, /currency: /);
  });

  it('refuses an id that is not a uuid, a point off the earth, and half a driver', () => {
    refuses(TripMatched, { ...parties, tripId: 'trip-1', vehicleType: 'XL', matchedAt: '2026-05-01T08:31:00Z' }, /tripId: must be a uuid/);
    refuses(TripRequested, { ...requested, pickup: { lat: 91, lng: 31 } }, /pickup\.lat: /);
    refuses(TripCancelled, { ...cancelled, driverUserId: null }, /driverUserId: driverId and driverUserId are both set or both null/);
  });

  it("spells every enum exactly as trips' SDL does", () => {
    assert.deepEqual(VEHICLE_TYPES, sdlEnum('trips', 'VehicleType'));
    assert.deepEqual(VEHICLE_TYPES, sdlEnum('drivers', 'VehicleType'));
    assert.deepEqual(PAYMENT_METHODS, sdlEnum('trips', 'PaymentMethod'));
    assert.deepEqual(CANCELLED_BY, sdlEnum('trips', 'CancelledBy'));
  });
});

describe("drivers' event contracts", () => {
  const snapshot = { resolution: 8, takenAt: '2026-05-01T08:30:00.000Z', cells: { '88283082a3fffff': 4, '88283082a7fffff': 0 } };

  it('reads a supply snapshot as it was written', () => {
    assert.deepEqual(SupplySnapshot.check(snapshot), snapshot);
    assert.deepEqual(SupplySnapshot.check({ ...snapshot, cells: {} }), { ...snapshot, cells: {} });
  });

  it('refuses counts that are fractional or negative, cells that are not H3 indexes, another resolution and a local time', () => {
    refuses(SupplySnapshot, { ...snapshot, cells: { '88283082a3fffff': 2.5 } }, /cells\.88283082a3fffff: /);
    refuses(SupplySnapshot, { ...snapshot, cells: { '88283082a3fffff': -1 } }, /cells\.88283082a3fffff: /);
    refuses(SupplySnapshot, { ...snapshot, cells: { cairo: 3 } }, /must be an H3 cell index/);
    refuses(SupplySnapshot, { ...snapshot, resolution: 9 }, /resolution: /);
    refuses(SupplySnapshot, { ...snapshot, takenAt: '2026-05-01T10:30:00+02:00' }, /takenAt: /);
    const { cells: _, ...withoutCells } = snapshot;
    refuses(SupplySnapshot, withoutCells, /cells: /);
  });
});

describe('a contract on both ends', () => {
  it("lets a consumer read a newer producer's payload, dropping the fields it does not know", () => {
    const newer = { ...requested, promoCode: 'SPRING', pickup: { ...requested.pickup, accuracyM: 5 } };
    assert.deepEqual(TripRequested.parse(newer), requested);
  });

  it('refuses, on the producing side, any field the contract does not name, at any depth', () => {
    assert.throws(() => TripRequested.check({ ...requested, promoCode: 'SPRING', pickup: { ...requested.pickup, accuracyM: 5 } }), {
      name: 'EventContractViolation',
      message: 'TripRequested breaks its contract: pickup.accuracyM: is not a field of the contract; promoCode: is not a field of the contract',
    });
  });

  it('lists its fields in the order of its schema', () => {
    assert.deepEqual(TripMatched.fields, ['tripId', 'riderId', 'driverId', 'driverUserId', 'vehicleType', 'matchedAt']);
  });
});
