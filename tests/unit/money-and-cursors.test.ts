import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMinor, toMoney } from '../../platform/money.ts';
import { decodeCursor, encodeCursor, toConnection } from '../../platform/pagination.ts';

describe('money', () => {
  it('formats minor units as exact decimal strings', () => {
    assert.deepEqual(toMoney(4250n, 'EGP'), { amount: '42.50', currency: 'EGP' });
    assert.deepEqual(toMoney(5, 'EGP'), { amount: '0.05', currency: 'EGP' });
    assert.deepEqual(toMoney(-120n, 'EGP'), { amount: '-1.20', currency: 'EGP' });
    assert.deepEqual(toMoney(900719925474099312n, 'EGP'), { amount: '9007199254740993.12', currency: 'EGP' });
  });

  it('parses decimal strings without floating point and rejects anything else', () => {
    assert.equal(parseMinor('42.5', 'EGP'), 4250n);
    assert.equal(parseMinor('0.10', 'EGP'), 10n);
    assert.equal(parseMinor('1.005', 'EGP'), null);
    assert.equal(parseMinor('1e3', 'EGP'), null);
    assert.equal(parseMinor('', 'EGP'), null);
  });
});

describe('keyset cursors', () => {
  it('round-trips the sort key', () => {
    const key = { at: new Date('2026-11-22T08:15:00.000Z'), id: 'a545b270-494b-5448-a98d-51484c5b20c0' };
    assert.deepEqual(decodeCursor(encodeCursor(key)), key);
  });

  it('rejects a forged cursor with BAD_USER_INPUT', () => {
    assert.throws(() => decodeCursor('bm9wZQ'), (error: { extensions: { code: string } }) => error.extensions.code === 'BAD_USER_INPUT');
  });

  it('says there is a next page only when the extra row exists', () => {
    const rows = [1, 2, 3].map((n) => ({ at: new Date(n * 1000), id: String(n) }));
    assert.equal(toConnection(rows, 2, (row) => row).pageInfo.hasNextPage, true);
    assert.equal(toConnection(rows, 3, (row) => row).pageInfo.hasNextPage, false);
    assert.equal(toConnection([], 3, (row) => row).pageInfo.endCursor, null);
  });
});

describe('coordinates', () => {
  it('reads a coordinate within a nanodegree of zero as zero (a subnormal would underflow in Postgres), and leaves real ones exact', async () => {
    const { latitudeSchema, longitudeSchema } = await import('../../platform/validation.ts');
    assert.equal(latitudeSchema.parse(6e-323), 0);
    assert.equal(longitudeSchema.parse(-7.65e-172), 0);
    assert.equal(latitudeSchema.parse(30.044412345678), 30.044412345678);
    assert.equal(longitudeSchema.parse(-0.0000001), -0.0000001);
  });
});
