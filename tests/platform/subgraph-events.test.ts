import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../platform/config.ts';
import { openDatabase } from '../../platform/db.ts';
import { minorUnits } from '../../platform/events/contracts/fields.ts';
import type { DomainEvent } from '../../platform/events/index.ts';
import { createOutboxEntity, defineEventContract, withEventMigrations } from '../../platform/events/index.ts';
import { createLogger } from '../../platform/logger.ts';
import { createServiceClient } from '../../platform/service-client.ts';
import { z } from '../../platform/validation.ts';
import { SUBGRAPHS } from '../../subgraphs/index.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { eventually } from './events-fixture.ts';

const StackTestHappened = defineEventContract('StackTestHappened', z.object({ fareMinor: minorUnits }));

describe('events and internal calls in a running supergraph', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ router: false });
  });
  after(() => stack.stop());

  it('gives every subgraph its outbox, processed_events and dead_events tables without listing the migration', async () => {
    for (const running of Object.values(stack.subgraphs)) {
      const tables: Array<{ table_name: string }> = await running!.db.orm.em
        .getConnection()
        .execute(`select "table_name" from "information_schema"."tables" where "table_schema" = ? and "table_name" in ('outbox', 'processed_events', 'dead_events') order by "table_name"`, [running!.name]);
      assert.deepEqual(tables.map((row) => row.table_name), ['dead_events', 'outbox', 'processed_events'], running!.name);
    }
  });

  it('carries an event recorded by one subgraph to a consumer in another, off the request statement count', async () => {
    const received: DomainEvent[] = [];
    stack.subgraph('wallet').runtime.events.consume({
      name: 'stack-test',
      source: 'trips',
      contracts: [StackTestHappened],
      handle: async (event) => void received.push(event),
    });
    const trips = stack.subgraph('trips');
    const recorded = await trips.db.fork().transactional(async (em) => trips.runtime.events.record(em, { contract: StackTestHappened, key: 'k-1', data: { fareMinor: '1250' } }));
    stack.resetStatementCount();
    await eventually(() => received.length === 1, { what: 'the event in wallet' });
    // The relay and the consumer did SQL meanwhile; none of it is request work.
    assert.equal(stack.statementCount(), 0);

    assert.deepEqual(received[0], recorded);
    assert.equal(received[0].source, 'trips');
    // The handler runs inside the consumer's transaction: the event is recorded as applied once that commits.
    const processed = async () =>
      ((await stack.subgraph('wallet').db.orm.em.getConnection().execute(`select 1 from "wallet"."processed_events" where "consumer" = 'stack-test' and "event_id" = ?`, [recorded.id])) as unknown[]).length;
    await eventually(async () => (await processed()) === 1, { what: 'the event applied, committed' });
    const metrics = await (await fetch(new URL('/metrics', trips.url))).text();
    assert.match(metrics, /smartline_events_published_total\{[^}]*type="StackTestHappened"[^}]*\} 1/);
    const walletMetrics = await (await fetch(new URL('/metrics', stack.subgraph('wallet').url))).text();
    assert.match(walletMetrics, /smartline_events_consumed_total\{[^}]*consumer="stack-test"[^}]*\} 1/);
  });

  it('lets one subgraph call another that started in parallel, by the URL it got once listening', async () => {
    const trips = stack.subgraph('trips').runtime;
    const accounts = createServiceClient({ caller: 'trips', target: 'accounts', config: trips.config, logger: trips.logger });
    const data = await accounts.request<{ _service: { sdl: string } }>(`{ _service { sdl } }`);
    assert.match(data._service.sdl, /type User/);
  });
});

describe('an embedded database from before events', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'smartline-upgrade-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('upgrades on the next start: the event tables are added and its own data stays', async () => {
    const config = loadConfig('wallet', { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir });
    const logger = createLogger(config);
    const wallet = SUBGRAPHS.wallet;
    const before = await openDatabase({ schema: 'wallet', entities: wallet.entities, migrations: wallet.migrations, dataDir, logger });
    await before.orm.em.getConnection().execute(`insert into "wallet"."ledger_accounts" ("id", "kind", "owner_id", "currency", "balance_rule") values ('4d6f1e0a-5b0c-4a44-9d0e-7f1b2c3d4e5f', 'RIDER_WALLET', '5e7f2a1b-6c1d-4b55-8e1f-8a2c3d4e5f60', 'EGP', 'DEBITS_MUST_NOT_EXCEED_CREDITS')`);
    await before.close();

    const outboxEntity = createOutboxEntity();
    const after = await openDatabase({ schema: 'wallet', entities: [...wallet.entities, outboxEntity], migrations: withEventMigrations(wallet.migrations), dataDir, logger });
    try {
      const applied: Array<{ name: string }> = await after.orm.em.getConnection().execute(`select "name" from "wallet"."mikro_orm_migrations" order by "id"`);
      assert.equal(applied.at(-1)!.name, 'platform_0001_events');
      const outbox: unknown[] = await after.orm.em.getConnection().execute(`select * from "wallet"."outbox"`);
      assert.deepEqual(outbox, []);
      const [kept]: Array<{ owner_id: string }> = await after.orm.em.getConnection().execute(`select "owner_id" from "wallet"."ledger_accounts"`);
      assert.equal(kept.owner_id, '5e7f2a1b-6c1d-4b55-8e1f-8a2c3d4e5f60');
    } finally {
      await after.close();
    }
  });
});
