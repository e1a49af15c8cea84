import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Database } from '../../platform/db.ts';
import { DriverDirectory } from '../../subgraphs/drivers/directory.ts';

/** A database the directory must not need: any read it makes is a cache miss, reported as such. */
const noDatabase = { fork: () => { throw new Error('read from Postgres'); } } as unknown as Database;
const driver = () => ({ id: randomUUID(), userId: randomUUID(), vehicleType: 'ECONOMY' as const });

describe("drivers' directory of who is which driver", () => {
  it('answers remembered drivers by id and by user id without reading Postgres', async () => {
    const directory = new DriverDirectory(noDatabase);
    const known = driver();
    directory.remember(known);
    assert.deepEqual(await directory.byId(known.id), known);
    assert.deepEqual(await directory.byUserId(known.userId), known);
    assert.deepEqual(await directory.byIds([known.id, 'not-a-uuid']), new Map([[known.id, known]]));
  });

  it('stays within its bound, forgetting the least recently used driver under both of its ids', async () => {
    const directory = new DriverDirectory(noDatabase, 2);
    const [a, b, c] = [driver(), driver(), driver()];
    directory.remember(a);
    directory.remember(b);
    await directory.byId(a.id); // used again: b is now the least recently used
    directory.remember(c);
    assert.deepEqual([...(await directory.byIds([a.id, c.id])).keys()], [a.id, c.id]);
    await assert.rejects(directory.byId(b.id), /read from Postgres/, 'b was forgotten by id');
    await assert.rejects(directory.byUserId(b.userId), /read from Postgres/, 'and by user id');
    assert.deepEqual(await directory.byUserId(a.userId), a);
  });
});
