import { createHash } from 'node:crypto';
import path from 'node:path';
import { defineEntity, p } from '@mikro-orm/core';
import { Migration } from '@mikro-orm/migrations';
import type { ServiceConfig, SubgraphName } from '../config.ts';
import type { MigrationEntry } from '../db.ts';
import { hashTag } from '../redis.ts';

/**
 * The event tables every subgraph gets, in its own schema, appended to its own migrations by the
 * platform (subgraphs do not list it):
 * - `outbox`: events recorded in the same transaction as the change they describe; `seq` orders the
 *   relay, `published_at` is set once the event is on the stream (kept a week for replays, then deleted);
 * - `processed_events`: (consumer, event id) of every event a consumer applied, inserted in the
 *   handler's own transaction: the exactly-once guard;
 * - `dead_events`: events a consumer gave up on after its attempts, with the last error, for an
 *   operator to look at (they are acknowledged so one bad event never blocks a stream).
 */
class CreateEventTables extends Migration {
  override up() {
    this.addSql(`create table if not exists "outbox" (
      "seq" bigserial not null,
      "id" uuid primary key,
      "type" varchar(100) not null,
      "key" varchar(200) not null,
      "data" jsonb not null,
      "occurred_at" timestamptz not null,
      "published_at" timestamptz null
    )`);
    this.addSql(`create index if not exists "outbox_unpublished_seq_index" on "outbox" ("seq") where "published_at" is null`);
    this.addSql(`create index if not exists "outbox_published_at_index" on "outbox" ("published_at") where "published_at" is not null`);
    this.addSql(`create table if not exists "processed_events" (
      "consumer" varchar(100) not null,
      "event_id" uuid not null,
      "processed_at" timestamptz not null default now(),
      primary key ("consumer", "event_id")
    )`);
    this.addSql(`create index if not exists "processed_events_processed_at_index" on "processed_events" ("processed_at")`);
    this.addSql(`create table if not exists "dead_events" (
      "consumer" varchar(100) not null,
      "event_id" varchar(100) not null,
      "type" varchar(100) null,
      "event" text not null,
      "attempts" integer not null,
      "last_error" text null,
      "parked_at" timestamptz not null default now(),
      primary key ("consumer", "event_id")
    )`);
  }
}

export const EVENTS_MIGRATION: MigrationEntry = { name: 'platform_0001_events', class: CreateEventTables };

/** A subgraph's migrations followed by the platform's own (already-applied entries are skipped by name). */
export function withEventMigrations(migrations: MigrationEntry[]): MigrationEntry[] {
  return migrations.some((entry) => entry.name === EVENTS_MIGRATION.name) ? migrations : [...migrations, EVENTS_MIGRATION];
}

/**
 * The outbox row as an entity, so `record` joins the caller's unit of work without a round trip of
 * its own. One class per database: embedded mode runs several ORMs (one per subgraph) in a process,
 * and MikroORM keeps discovered metadata on the class.
 */
export function createOutboxEntity() {
  const schema = defineEntity({
    name: 'OutboxEvent',
    tableName: 'outbox',
    properties: {
      id: p.uuid().primary(),
      type: p.string(),
      key: p.string(),
      data: p.json<unknown>(),
      occurredAt: p.datetime(),
    },
  });
  class OutboxEvent extends schema.class {}
  schema.setClass(OutboxEvent);
  return OutboxEvent;
}
export type OutboxEntityClass = ReturnType<typeof createOutboxEntity>;

/**
 * `smartline:events:{<ns>:<source>}`: one stream per producing subgraph, hash-tagged by the stream, so on a
 * Redis Cluster each stream (with its mark, streamMarkKey, which must be lost with it) has a slot of its own.
 */
export function streamKey(namespace: string, source: SubgraphName): string {
  return `smartline:events:${hashTag(`${namespace}:${source}`)}`;
}
