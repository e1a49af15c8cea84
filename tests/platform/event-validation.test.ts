import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TripCompleted, type TripCompletedData } from '../../platform/events/contracts/index.ts';
import { EventContractViolation, type EventData } from '../../platform/events/index.ts';
import { BUS_MODES, BusWorld, busModeUnavailable, eventually, ThingHappened, type BusNode } from './events-fixture.ts';

const completion = (fare: unknown = '8750'): Record<string, unknown> => ({
  tripId: randomUUID(), riderId: randomUUID(), driverId: randomUUID(), driverUserId: randomUUID(),
  fareMinor: fare, commissionMinor: '1313', currency: 'EGP', paymentMethod: 'CASH', completedAt: new Date().toISOString(),
});

const count = async (node: BusNode, table: string) => {
  const [row]: Array<{ n: number }> = await node.db.orm.em.getConnection().execute(`select count(*)::int as "n" from "${node.source}"."${table}"`);
  return row!.n;
};

for (const mode of BUS_MODES) {
  describe(`event contracts enforced by the bus on ${mode}`, { skip: busModeUnavailable(mode) }, () => {
    let world: BusWorld;
    beforeEach(async () => {
      world = await BusWorld.create(mode);
    });
    afterEach(() => world.dispose());

    it('refuses to record, insert or publish a payload that breaks its contract, and writes nothing', async () => {
      const trips = await world.node('trips');
      const floatFare = completion(87.5) as TripCompletedData;

      await assert.rejects(
        trips.db.fork().transactional(async (em) => {
          await em.getConnection().execute(`insert into "trips"."things" ("id", "label") values (?, ?)`, [randomUUID(), 'the change'], 'run', em.getTransactionContext());
          trips.bus.record(em, { contract: TripCompleted, key: floatFare.tripId, data: floatFare });
        }),
        (error: unknown) => error instanceof EventContractViolation && /^TripCompleted breaks its contract: fareMinor: /.test(error.message),
      );
      assert.throws(() => trips.bus.outboxInsert({ contract: TripCompleted, key: floatFare.tripId, data: floatFare }), EventContractViolation);
      await assert.rejects(trips.bus.publish({ contract: TripCompleted, key: floatFare.tripId, data: floatFare }), EventContractViolation);

      assert.deepEqual([await count(trips, 'outbox'), await count(trips, 'things')], [0, 0], 'neither the event nor the change it described');
      if (world.redis) assert.equal(await world.streamLength('trips'), 0, 'nothing published');
    });

    it('parks an event whose payload breaks its contract without calling the handler, and applies the next one', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet');
      const handled: Array<EventData<typeof TripCompleted>> = [];
      wallet.bus.consume({ name: 'settlement', source: 'trips', contracts: [TripCompleted], handle: async (event) => void handled.push(event.data) });
      await trips.bus.start();

      // As a producer that skipped its contract would have written it: a float fare, a local time.
      const broken = { id: randomUUID(), data: { ...completion(87.5), completedAt: '2026-05-01T11:00:00+02:00' } as Record<string, unknown> };
      await trips.db.orm.em
        .getConnection()
        .execute(`insert into "trips"."outbox" ("id", "type", "key", "data", "occurred_at") values (?, 'TripCompleted', ?, ?::jsonb, now())`, [broken.id, broken.data.tripId, JSON.stringify(broken.data)]);
      const healthy = completion() as TripCompletedData;
      const next = await trips.db.fork().transactional(async (em) => trips.bus.record(em, { contract: TripCompleted, key: healthy.tripId, data: healthy }));
      await trips.bus.flush(); // both on the stream before the consumer's first read: they arrive together
      await wallet.bus.start();

      const processedIds = async () =>
        ((await wallet.db.orm.em.getConnection().execute(`select "event_id" from "wallet"."processed_events" where "consumer" = 'settlement' order by "event_id"`)) as Array<{ event_id: string }>).map((row) => row.event_id);
      // The handler runs inside the consumer's transaction: what it applied is visible once that commits.
      await eventually(async () => (await processedIds()).includes(next.id), { what: 'the healthy event, committed' });
      assert.deepEqual(handled, [healthy]);
      assert.equal(next.data.fareMinor, '8750');
      const dead: Array<{ event_id: string; type: string; attempts: number; last_error: string }> = await wallet.db.orm.em
        .getConnection()
        .execute(`select "event_id", "type", "attempts", "last_error" from "wallet"."dead_events" where "consumer" = 'settlement'`);
      assert.equal(dead.length, 1);
      assert.deepEqual([dead[0]!.event_id, dead[0]!.type, dead[0]!.attempts], [broken.id, 'TripCompleted', 1], 'parked at its first delivery: no retry can mend it');
      assert.match(dead[0]!.last_error, /^TripCompleted breaks its contract: fareMinor: .+; completedAt: must be an ISO-8601 UTC timestamp/);
      assert.deepEqual(await processedIds(), [broken.id, next.id].sort(), 'a redelivery of the parked event is never applied');
    });

    it("builds a payload in SQL from exactly the contract's fields", async () => {
      const trips = await world.node('trips');
      const thingId = randomUUID();
      const event = trips.bus.outboxInsertSelect({ contract: ThingHappened, from: '"thing"', key: `'thing-' || "thing"."label"`, fields: { thingId: '"thing"."id"', index: { sql: '?::int', params: [7] } } });
      await trips.db.orm.em
        .getConnection()
        .execute(`with "thing" as (insert into "trips"."things" ("id", "label") values (?, ?) returning *), "event" as (${event.sql}) select 1`, [thingId, '0007', ...event.params]);
      const outbox: Array<{ type: string; key: string; data: unknown }> = await trips.db.orm.em.getConnection().execute(`select "type", "key", "data" from "trips"."outbox"`);
      assert.deepEqual(outbox, [{ type: 'ThingHappened', key: 'thing-0007', data: { thingId, index: 7 } }]);

      const fields = { thingId: '"thing"."id"', label: '"thing"."label"' } as unknown as { thingId: string; index: string };
      assert.throws(() => trips.bus.outboxInsertSelect({ contract: ThingHappened, from: '"thing"', key: '"thing"."label"', fields }), {
        message: 'ThingHappened built in SQL: index is missing; label is not a field of the contract',
      });
    });
  });
}
