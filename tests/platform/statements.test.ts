import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { Migration } from '@mikro-orm/migrations';
import { loadConfig } from '../../platform/config.ts';
import { executeStatement, numberedPlaceholders, openDatabase, type Database } from '../../platform/db.ts';
import { createLogger } from '../../platform/logger.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { testEnvironment } from '../support/stack.ts';

class CreateLedger extends Migration {
  override up() {
    this.addSql(`create table "ledger" ("id" uuid primary key, "label" text not null, "amount_minor" bigint not null, "at" timestamptz not null, "note" text null)`);
  }
}

describe('numberedPlaceholders', () => {
  it('numbers each ? in order, leaving those inside quoted strings and identifiers alone', () => {
    assert.equal(numberedPlaceholders(`select ?::uuid, '?', "a?b" from t where x = ? and y in (?, ?)`), `select $1::uuid, '?', "a?b" from t where x = $2 and y in ($3, $4)`);
    assert.equal(numberedPlaceholders(`select 'it''s ?' where z = ?`), `select 'it''s ?' where z = $1`);
  });
});

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`one statement on its own (${kind})`, { skip: kind === 'postgres' && !process.env.DATABASE_URL && 'DATABASE_URL is not set' }, () => {
    let database: TestDatabase;
    let db: Database;
    const statements: string[] = [];

    before(async () => {
      database = await createTestDatabase();
      db = await openDatabase({
        schema: 'statements',
        entities: [],
        migrations: [{ name: '0001_ledger', class: CreateLedger }],
        databaseUrl: kind === 'postgres' ? database.databaseUrl : undefined,
        dataDir: database.dataDir,
        logger: createLogger(loadConfig('trips', testEnvironment(database))),
        onStatement: (sql) => statements.push(sql),
        poolMax: 1, // one connection: its prepared statements are the ones pg_prepared_statements lists
      });
      assert.equal(db.kind, kind);
    });
    after(async () => {
      await db?.close();
      await database?.dispose();
    });

    it('answers what em.execute answers, for every kind of parameter, and is counted as a statement', async () => {
      const id = randomUUID();
      const at = new Date('2026-11-22T10:07:50.382Z');
      statements.length = 0;
      const inserted = await executeStatement(db.fork(), `insert into "statements"."ledger" ("id", "label", "amount_minor", "at", "note") values (?, ?, ?, ?, ?) returning *`, [id, `it's a "?"`, 123_456_789_012_345n, at, null]);
      assert.equal(statements.length, 1);
      const read = await db.fork().getConnection().execute(`select * from "statements"."ledger" where "id" = ?`, [id]);
      assert.deepEqual(inserted, read);
      // (Postgres answers a bigint as a string, PGlite as a number: em.execute does the same, as compared above.)
      assert.deepEqual({ ...inserted[0], amount_minor: String(inserted[0]!.amount_minor), at: new Date(inserted[0]!.at as string).toISOString() }, { id, label: `it's a "?"`, amount_minor: '123456789012345', at: at.toISOString(), note: null });
      // Run again: on Postgres now a prepared statement of the connection that ran it first.
      const lookup = `select "id" from "statements"."ledger" where "id" = ? and "label" like ?`;
      for (let i = 0; i < 3; i++) {
        const [again] = await executeStatement<{ id: string }>(db.fork(), lookup, [id, 'it%']);
        assert.equal(again?.id, id);
      }
      if (kind === 'postgres') {
        const prepared: Array<{ statement: string }> = await db.fork().getConnection().execute(`select "statement" from "pg_prepared_statements" where "name" like 'smartline\\_%' order by "prepare_time"`);
        assert.deepEqual(prepared.map((row) => row.statement), [numberedPlaceholders(`insert into "statements"."ledger" ("id", "label", "amount_minor", "at", "note") values (?, ?, ?, ?, ?) returning *`), numberedPlaceholders(lookup)], 'each prepared once, on the connection');
      }
    });

    it("throws MikroORM's exceptions, so a lost race is told apart", async () => {
      const id = randomUUID();
      const insert = `insert into "statements"."ledger" ("id", "label", "amount_minor", "at") values (?, ?, ?, ?)`;
      await executeStatement(db.fork(), insert, [id, 'first', 1n, new Date()]);
      await assert.rejects(executeStatement(db.fork(), insert, [id, 'second', 2n, new Date()]), UniqueConstraintViolationException);
    });

    it('runs inside the transaction of an em that has one', async () => {
      const id = randomUUID();
      await assert.rejects(
        db.fork().transactional(async (tx) => {
          await executeStatement(tx, `insert into "statements"."ledger" ("id", "label", "amount_minor", "at") values (?, ?, ?, ?)`, [id, 'rolled back', 1n, new Date()]);
          assert.equal((await executeStatement(tx, `select 1 from "statements"."ledger" where "id" = ?`, [id])).length, 1, 'seen inside');
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal((await executeStatement(db.fork(), `select 1 from "statements"."ledger" where "id" = ?`, [id])).length, 0);
    });
  });
}
