import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { isUuid } from '../../platform/validation.ts';
import { bookingTripId } from '../../subgraphs/trips/payments.ts';

describe('bookingTripId', () => {
  it('names one trip per (rider, idempotency key): the same pair always, another pair never', () => {
    const rider = randomUUID();
    const id = bookingTripId(rider, 'key-0001');
    assert.equal(bookingTripId(rider, 'key-0001'), id);
    assert.notEqual(bookingTripId(rider, 'key-0002'), id);
    assert.notEqual(bookingTripId(randomUUID(), 'key-0001'), id);
  });

  it('is a version 5 (name-based, SHA-1) uuid of the RFC 4122 variant, stable across releases', () => {
    const id = bookingTripId('00000000-0000-4000-8000-000000000001', 'key-0001');
    assert.ok(isUuid(id));
    assert.equal(id[14], '5');
    assert.ok('89ab'.includes(id[19]!));
    // A retried booking must find the trip its first attempt named, whatever release answers it (the
    // same value as Python's uuid.uuid5(namespace, "<rider>:<key>")).
    assert.equal(id, 'f57e2365-f12f-5c80-a3d3-1da7ea8c75ec');
  });
});
