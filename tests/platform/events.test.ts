import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { streamKey, type StreamTransport } from '../../platform/events/index.ts';
import { SupplySnapshot } from '../../platform/events/contracts/index.ts';
import { appliedRows, BUS_MODES, BusWorld, busModeUnavailable, eventually, processedTransactions, recordingConsumer, recordThings, ThingHappened } from './events-fixture.ts';

for (const mode of BUS_MODES) {
  // PGlite is slow to open (one cluster per node): it runs the core cases; the others are reported skipped there.
  const embedded = mode === 'PGlite + in-process log';
  const beyondCore = (name: string, fn: () => Promise<void>) => it(name, { skip: embedded && 'on Postgres only: PGlite runs the core cases (a cluster per node is slow to open)' }, fn);
  describe(`domain events on ${mode}`, { skip: busModeUnavailable(mode) }, () => {
    // A fresh database and stream namespace per test: a new consumer group starts at the beginning of its stream.
    let world: BusWorld;
    beforeEach(async () => {
      world = await BusWorld.create(mode);
    });
    afterEach(() => world.dispose());

    it('never publishes an event recorded in a rolled-back transaction, and delivers a committed one', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet');
      wallet.bus.consume(recordingConsumer(wallet, { name: 'rollback-check', source: 'trips' }));
      await trips.bus.start();
      await wallet.bus.start();

      await assert.rejects(
        trips.db.fork().transactional(async (em) => {
          trips.bus.record(em, { contract: ThingHappened, key: 'rolled-back', data: {} });
          await em.flush();
          throw new Error('the change fails after the event was written');
        }),
        /the change fails/,
      );
      const [committed] = await recordThings(trips, 1);
      // Streams keep order: once a later event arrived, an earlier one can no longer be on its way.
      const [sentinel] = await recordThings(trips, 1, { from: 2 });
      await eventually(async () => (await appliedRows(wallet, 'rollback-check')).some((row) => row.event_id === sentinel.id), { what: 'the sentinel event' });

      assert.deepEqual((await appliedRows(wallet, 'rollback-check')).map((row) => row.event_id), [committed.id, sentinel.id]);
      const outbox: Array<{ key: string }> = await trips.db.orm.em.getConnection().execute(`select "key" from "trips"."outbox" order by "seq"`);
      assert.deepEqual(outbox.map((row) => row.key), ['thing-0001', 'thing-0002']);
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('delivers an event right after its transaction commits, without waiting for the outbox poll', async () => {
      const trips = await world.node('trips', { outboxPollMs: 60_000 });
      const drivers = await world.node('drivers');
      drivers.bus.consume(recordingConsumer(drivers, { name: 'latency', source: 'trips' }));
      await trips.bus.start();
      await drivers.bus.start();

      // Inside em.transactional ...
      const [event] = await recordThings(trips, 1, { from: 100 });
      await eventually(async () => (await appliedRows(drivers, 'latency')).some((row) => row.event_id === event.id), { timeoutMs: 5_000, what: 'the event' });
      // ... and with a plain flush, which commits in a transaction of its own.
      const em = trips.db.fork();
      const flushed = trips.bus.record(em, { contract: ThingHappened, key: 'thing-0101', data: {} });
      await em.flush();
      await eventually(async () => (await appliedRows(drivers, 'latency')).some((row) => row.event_id === flushed.id), { timeoutMs: 5_000, what: 'the flushed event' });
      // ... and from a transaction nested in another (a savepoint: the relay wakes when the outer one commits).
      const nested = await trips.db.fork().transactional((outer) => outer.transactional(async (inner) => trips.bus.record(inner, { contract: ThingHappened, key: 'thing-0102', data: {} })));
      await eventually(async () => (await appliedRows(drivers, 'latency')).some((row) => row.event_id === nested.id), { timeoutMs: 5_000, what: 'the nested event' });
      await trips.stop();
      await drivers.stop();
    });

    it('applies an event once when a handler throws once and then succeeds', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet');
      let calls = 0;
      wallet.bus.consume(
        recordingConsumer(wallet, { name: 'flaky', source: 'trips' }, async () => {
          calls += 1;
          if (calls === 1) throw new Error('deadlock detected (the first time only)');
        }),
      );
      await trips.bus.start();
      await wallet.bus.start();

      const [event] = await recordThings(trips, 1, { from: 200 });
      await eventually(async () => (await appliedRows(wallet, 'flaky')).length > 0, { what: 'the retried event' });
      assert.equal(calls, 2);
      assert.deepEqual((await appliedRows(wallet, 'flaky')).map((row) => row.event_id), [event.id]);
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('does not apply an event again when the acknowledgement was lost after the handler committed', async () => {
      const trips = await world.node('trips');
      const lost: string[] = [];
      const acknowledged: string[] = [];
      const loseFirstAck = (transport: StreamTransport): StreamTransport =>
        new Proxy(transport, {
          get(target, property) {
            if (property === 'ack') {
              return async (...args: Parameters<StreamTransport['ack']>) => {
                if (lost.length === 0) {
                  lost.push(...args[2]);
                  throw new Error('connection reset before XACK');
                }
                await target.ack(...args);
                acknowledged.push(...args[2]);
              };
            }
            const value = Reflect.get(target, property, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      const wallet = await world.node('wallet', { wrapTransport: loseFirstAck });
      let calls = 0;
      wallet.bus.consume(recordingConsumer(wallet, { name: 'lost-ack', source: 'trips' }, async () => void (calls += 1)));
      await trips.bus.start();
      await wallet.bus.start();

      const [event] = await recordThings(trips, 1, { from: 300 });
      const [sentinel] = await recordThings(trips, 1, { from: 301 });
      await eventually(async () => (await appliedRows(wallet, 'lost-ack')).some((row) => row.event_id === sentinel.id), { what: 'the sentinel' });
      // What the lost acknowledgement covered (the first event, or both when one read brought both) stays
      // pending until it is redelivered; wait for those redeliveries to be acknowledged.
      await eventually(() => lost.length > 0 && lost.every((id) => acknowledged.includes(id)), { what: 'the redelivery' });
      const processed: Array<{ event_id: string }> = await wallet.db.orm.em.getConnection().execute(`select "event_id" from "wallet"."processed_events" where "consumer" = 'lost-ack'`);
      assert.equal(processed.length, 2);
      assert.equal(calls, 2, 'the handler ran once per event, not again for the redelivery');
      assert.deepEqual((await appliedRows(wallet, 'lost-ack')).map((row) => row.event_id).sort(), [event.id, sentinel.id].sort());
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('parks an event that keeps failing, and keeps delivering the ones after it', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet', { consumers: { maxAttempts: 3, retryAfterMs: 100 } });
      let poisonCalls = 0;
      wallet.bus.consume(
        recordingConsumer(wallet, { name: 'poison', source: 'trips' }, async (event) => {
          if (event.key === 'thing-0400') {
            poisonCalls += 1;
            throw new Error('cannot settle this trip');
          }
        }),
      );
      await trips.bus.start();
      await wallet.bus.start();

      const [poison, healthy] = await recordThings(trips, 2, { from: 400 });
      await eventually(async () => (await appliedRows(wallet, 'poison')).some((row) => row.event_id === healthy.id), { what: 'the healthy event' });
      await eventually(async () => {
        const dead: unknown[] = await wallet.db.orm.em.getConnection().execute(`select 1 from "wallet"."dead_events" where "consumer" = 'poison'`);
        return dead.length === 1;
      }, { what: 'the parked event' });

      const [dead]: Array<{ event_id: string; type: string; attempts: number; last_error: string; event: string }> = await wallet.db.orm.em
        .getConnection()
        .execute(`select "event_id", "type", "attempts", "last_error", "event" from "wallet"."dead_events" where "consumer" = 'poison'`);
      assert.equal(dead.event_id, poison.id);
      assert.equal(dead.type, 'ThingHappened');
      assert.equal(dead.attempts, 3);
      assert.equal(poisonCalls, 3);
      assert.match(dead.last_error, /cannot settle this trip/);
      assert.equal(JSON.parse(dead.event).key, 'thing-0400');
      assert.deepEqual((await appliedRows(wallet, 'poison')).map((row) => row.event_id), [healthy.id]);
      await trips.stop();
      await wallet.stop();
    });

    it('gives every consumer group every event, including a group created after the events were published', async () => {
      const trips = await world.node('trips');
      await trips.bus.start();
      const events = await recordThings(trips, 10, { from: 500 });
      await trips.bus.flush();

      const wallet = await world.node('wallet');
      const drivers = await world.node('drivers');
      wallet.bus.consume(recordingConsumer(wallet, { name: 'late-a', source: 'trips' }));
      wallet.bus.consume(recordingConsumer(wallet, { name: 'late-b', source: 'trips' }));
      drivers.bus.consume(recordingConsumer(drivers, { name: 'late-a', source: 'trips' }));
      await wallet.bus.start();
      await drivers.bus.start();
      const more = await recordThings(trips, 5, { from: 510 });
      const all = [...events, ...more].map((event) => event.id).sort();

      for (const [node, consumer] of [[wallet, 'late-a'], [wallet, 'late-b'], [drivers, 'late-a']] as const) {
        await eventually(async () => (await appliedRows(node, consumer)).length >= all.length, { what: `${node.name} ${consumer}` });
        const rows = (await appliedRows(node, consumer)).filter((row) => row.key >= 'thing-0500' && row.key < 'thing-0600');
        assert.deepEqual(rows.map((row) => row.event_id).sort(), all, `${node.name}/${consumer} got each event once`);
      }
      await trips.stop();
      await wallet.stop();
      await drivers.stop();
    });

    it('writes an event in the same statement as its change: delivered once committed, never when the statement fails', async () => {
      const trips = await world.node('trips', { outboxPollMs: 60_000 });
      const wallet = await world.node('wallet');
      wallet.bus.consume(recordingConsumer(wallet, { name: 'one-statement', source: 'trips' }));
      await trips.bus.start();
      await wallet.bus.start();
      const connection = trips.db.orm.em.getConnection();

      const failing = trips.bus.outboxInsert({ contract: ThingHappened, key: 'thing-0301', data: {} });
      await assert.rejects(connection.execute(`with "event" as (${failing.sql} returning 1) select 1 / 0 from "event"`, failing.params), /division by zero/);
      const thingId = randomUUID();
      const written = trips.bus.outboxInsert({ contract: ThingHappened, key: 'thing-0302', data: { thingId } });
      await connection.execute(`with "thing" as (insert into "trips"."things" ("id", "label") values (?, ?)), "event" as (${written.sql}) select 1`, [thingId, 'thing 302', ...written.params]);
      written.committed(); // the poll is a minute away: only this wakes the relay

      await eventually(async () => (await appliedRows(wallet, 'one-statement')).length > 0, { timeoutMs: 5_000, what: 'the event' });
      assert.deepEqual((await appliedRows(wallet, 'one-statement')).map((row) => [row.event_id, row.key]), [[written.event.id, 'thing-0302']]);
      const outbox: Array<{ key: string; data: unknown }> = await connection.execute(`select "key", "data" from "trips"."outbox" order by "seq"`);
      assert.deepEqual(outbox, [{ key: 'thing-0302', data: { thingId } }]);
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('hands the new events of one read to handleMany at once; when it throws, applies each alone with handle', async () => {
      const trips = await world.node('trips');
      await trips.bus.start();
      const events = await recordThings(trips, 5, { from: 740 });
      await trips.bus.flush();

      const wallet = await world.node('wallet', { consumers: { retryAfterMs: 100 } });
      const batches: string[][] = [];
      const single = recordingConsumer(wallet, { name: 'many', source: 'trips' });
      wallet.bus.consume({
        ...single,
        async handleMany(batch, em) {
          batches.push(batch.map((event) => event.key));
          for (const event of batch) await single.handle(event, em);
          if (batches.length === 1) throw new Error('the batch fails the first time');
        },
      });
      await wallet.bus.start();
      await eventually(async () => (await appliedRows(wallet, 'many')).length >= events.length, { what: 'every event' });
      assert.deepEqual(batches[0], events.map((event) => event.key), 'the first read went to handleMany whole');
      assert.deepEqual((await appliedRows(wallet, 'many')).map((row) => row.event_id).sort(), events.map((event) => event.id).sort(), 'each applied once, after the rollback');
      assert.equal(batches.length, 1, 'after the failure each event was applied alone');
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('lingers after a read that did not fill a batch, so the events arriving meanwhile are applied together', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet');
      wallet.bus.consume({ ...recordingConsumer(wallet, { name: 'lingering', source: 'trips' }), lingerMs: 2_000 });
      await trips.bus.start();
      await wallet.bus.start();

      const [first] = await recordThings(trips, 1, { from: 760 });
      await eventually(async () => (await appliedRows(wallet, 'lingering')).length === 1, { what: 'the first event, read alone' });
      const rest = await recordThings(trips, 5, { from: 761 });
      await eventually(async () => (await appliedRows(wallet, 'lingering')).length === 6, { what: 'the five events after it' });
      assert.equal(await processedTransactions(wallet, 'lingering', [first!.id]), 1, `the five events published during the linger were read and applied together (${rest.length})`);
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('after a linger takes everything that accumulated in one read, beyond the batch size', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet');
      wallet.bus.consume({ ...recordingConsumer(wallet, { name: 'catching-up', source: 'trips' }), lingerMs: 2_000 });
      await trips.bus.start();
      await wallet.bus.start();

      const [first] = await recordThings(trips, 1, { from: 780 });
      await eventually(async () => (await appliedRows(wallet, 'catching-up')).length === 1, { what: 'the first event, read alone' });
      const rest = await recordThings(trips, 45, { from: 781 });
      await eventually(async () => (await appliedRows(wallet, 'catching-up')).length === 46, { what: 'the 45 events after it' });
      assert.equal(await processedTransactions(wallet, 'catching-up', [first!.id]), 1, `the ${rest.length} events published during the linger (more than a batch of 20) were applied in one transaction`);
      await trips.stop();
      await wallet.stop();
    });

    it('applies the events of one read in one transaction, each once', async () => {
      const trips = await world.node('trips');
      await trips.bus.start();
      const events = await recordThings(trips, 8, { from: 700 });
      await trips.bus.flush();

      const wallet = await world.node('wallet');
      wallet.bus.consume(recordingConsumer(wallet, { name: 'burst', source: 'trips' }));
      await wallet.bus.start();
      await eventually(async () => (await appliedRows(wallet, 'burst')).length >= events.length, { what: 'the burst' });
      assert.deepEqual((await appliedRows(wallet, 'burst')).map((row) => row.event_id).sort(), events.map((event) => event.id).sort());
      assert.equal(await processedTransactions(wallet, 'burst'), 1, 'one transaction for the eight events of the first read');
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('retries only the event whose handler failed in a read applied together; the others are applied once', async () => {
      const trips = await world.node('trips');
      await trips.bus.start();
      const events = await recordThings(trips, 6, { from: 720 });
      await trips.bus.flush();

      const wallet = await world.node('wallet', { consumers: { retryAfterMs: 100 } });
      const calls = new Map<string, number>();
      wallet.bus.consume(
        recordingConsumer(wallet, { name: 'burst-once', source: 'trips' }, async (event) => {
          calls.set(event.key, (calls.get(event.key) ?? 0) + 1);
          if (event.key === 'thing-0723' && calls.get(event.key) === 1) throw new Error('lock timeout (the first time only)');
        }),
      );
      await wallet.bus.start();
      await eventually(async () => (await appliedRows(wallet, 'burst-once')).length >= events.length, { what: 'every event, the failed one retried' });
      assert.deepEqual((await appliedRows(wallet, 'burst-once')).map((row) => row.event_id).sort(), events.map((event) => event.id).sort(), 'each event applied once');
      assert.equal(calls.get('thing-0723'), 2, 'the failed handler ran once more, on its own');
      assert.deepEqual([calls.get('thing-0720'), calls.get('thing-0725')], [2, 1], 'those before it ran again after the rollback, those after it once');
      await trips.stop();
      await wallet.stop();
    });

    beyondCore('acknowledges events of other types without calling the handler, and delivers published (outbox-less) signals', async () => {
      const drivers = await world.node('drivers');
      const pricing = await world.node('pricing');
      const seen: string[] = [];
      pricing.bus.consume({
        name: 'supply',
        source: 'drivers',
        contracts: [SupplySnapshot],
        async handle(event) {
          seen.push(`${event.type}:${event.source}:${event.data.cells['88283082a3fffff']}`);
        },
      });
      await drivers.bus.start();
      await pricing.bus.start();

      await recordThings(drivers, 1, { from: 600 });
      const snapshot = await drivers.bus.publish({ contract: SupplySnapshot, key: 'res-8', data: { resolution: 8, takenAt: new Date().toISOString(), cells: { '88283082a3fffff': 4 } } });
      assert.equal(snapshot.source, 'drivers');
      await eventually(() => seen.length === 1, { what: 'the snapshot' });
      assert.deepEqual(seen, ['SupplySnapshot:drivers:4']);
      await drivers.stop();
      await pricing.stop();
    });

    beyondCore('acknowledges a read of events it does not handle in one acknowledgement', async () => {
      const drivers = await world.node('drivers');
      await drivers.bus.start();
      const others = await recordThings(drivers, 6, { from: 620 });
      await drivers.bus.flush();
      const acks: string[][] = [];
      const countAcks = (transport: StreamTransport): StreamTransport =>
        new Proxy(transport, {
          get(target, property) {
            if (property === 'ack') return async (...args: Parameters<StreamTransport['ack']>) => (acks.push([...args[2]]), target.ack(...args));
            const value = Reflect.get(target, property, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      const pricing = await world.node('pricing', { wrapTransport: countAcks });
      pricing.bus.consume({ name: 'snapshots-only', source: 'drivers', contracts: [SupplySnapshot], handle: async () => assert.fail('no snapshot was published') });
      await pricing.bus.start();
      await eventually(() => acks.flat().length === others.length, { what: 'the six events acknowledged' });
      assert.deepEqual(acks.map((ids) => ids.length), [6], 'one acknowledgement for the read');
      await drivers.stop();
      await pricing.stop();
    });

    if (mode === 'Postgres + in-process log') {
      it('refills a new in-process log with the events the previous run published just before it stopped', async () => {
        const before = await world.node('trips');
        await before.bus.start();
        const [lost] = await recordThings(before, 1, { from: 800 });
        await before.bus.flush(); // on the log, but nobody consumed it: then the process "exits"
        await before.stop();

        const trips = await world.node('trips');
        const wallet = await world.node('wallet');
        wallet.bus.consume(recordingConsumer(wallet, { name: 'after-restart', source: 'trips' }));
        await trips.bus.start();
        await wallet.bus.start();
        const [fresh] = await recordThings(trips, 1, { from: 801 });
        await eventually(async () => (await appliedRows(wallet, 'after-restart')).length === 2, { what: 'both events' });
        assert.deepEqual((await appliedRows(wallet, 'after-restart')).map((row) => row.event_id), [lost.id, fresh.id]);
        await trips.stop();
        await wallet.stop();
      });
    }

    beyondCore('lets the event in hand finish, commit and be acknowledged when the subgraph stops', async () => {
      const trips = await world.node('trips');
      const wallet = await world.node('wallet');
      let entered!: () => void;
      const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      wallet.bus.consume(
        recordingConsumer(wallet, { name: 'draining', source: 'trips' }, async () => {
          entered();
          await gate;
        }),
      );
      await trips.bus.start();
      await wallet.bus.start();
      const [event] = await recordThings(trips, 1, { from: 900 });
      await handlerEntered;

      let stopped = false;
      const stopping = wallet.bus.stop().then(() => (stopped = true));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(stopped, false, 'stop waits for the handler in progress');
      release();
      await stopping;

      assert.deepEqual((await appliedRows(wallet, 'draining')).map((row) => row.event_id), [event.id]);
      if (world.redis) {
        const [pending] = (await world.redis.xpending(streamKey(world.namespace, 'trips'), 'wallet:draining')) as [number];
        assert.equal(pending, 0, 'acknowledged before the consumer let go');
      }
      await trips.stop();
      await wallet.stop();
    });

    if (!embedded) {
      it('splits one group between two racing replicas with no event applied twice', async () => {
        const trips = await world.node('trips');
        const walletA = await world.node('wallet', { name: 'wallet-a' });
        const walletB = await world.node('wallet', { name: 'wallet-b' });
        // A little work per event, so one replica is busy while the other reads.
        const slowly = async () => void (await new Promise((resolve) => setTimeout(resolve, 2)));
        walletA.bus.consume(recordingConsumer(walletA, { name: 'settle', source: 'trips' }, slowly));
        walletB.bus.consume(recordingConsumer(walletB, { name: 'settle', source: 'trips' }, slowly));
        await walletA.bus.start();
        await walletB.bus.start();
        await trips.bus.start();

        const events = await recordThings(trips, 200, { concurrently: true, from: 700 });
        await eventually(async () => (await appliedRows(walletA, 'settle')).length >= 200, { what: 'all 200 events', timeoutMs: 30_000 });
        const rows = await appliedRows(walletA, 'settle');
        assert.equal(rows.length, 200);
        assert.deepEqual(rows.map((row) => row.event_id).sort(), events.map((event) => event.id).sort());
        const byReplica = Object.groupBy(rows, (row) => row.applied_by);
        assert.ok((byReplica['wallet-a']?.length ?? 0) > 0 && (byReplica['wallet-b']?.length ?? 0) > 0, `both replicas worked: ${Object.keys(byReplica)}`);
        await trips.stop();
        await walletA.stop();
        await walletB.stop();
      });

      it('never publishes an outbox row twice when two relays race over it', async () => {
        const appended = new Map<string, number>();
        const countAppends = (transport: StreamTransport): StreamTransport =>
          new Proxy(transport, {
            get(target, property) {
              if (property === 'append') {
                return async (...args: Parameters<StreamTransport['append']>) => {
                  await target.append(...args);
                  for (const entry of args[1]) {
                    const id = JSON.parse(entry.payload).id as string;
                    appended.set(id, (appended.get(id) ?? 0) + 1);
                  }
                };
              }
              const value = Reflect.get(target, property, target);
              return typeof value === 'function' ? value.bind(target) : value;
            },
          });
        const tripsA = await world.node('trips', { name: 'trips-a', outboxPollMs: 60_000, wrapTransport: countAppends });
        const tripsB = await world.node('trips', { name: 'trips-b', outboxPollMs: 60_000, wrapTransport: countAppends });
        const wallet = await world.node('wallet');
        let calls = 0;
        wallet.bus.consume(recordingConsumer(wallet, { name: 'relay-race', source: 'trips' }, async () => void (calls += 1)));
        await wallet.bus.start();
        const before = mode === 'Postgres + Redis Streams' ? await world.streamLength('trips') : 0;

        // Recorded while no relay runs, then both relays start and flush at once, over and over.
        const events = await recordThings(tripsA, 300, { concurrently: true, from: 1000 });
        await Promise.all([tripsA.bus.start(), tripsB.bus.start()]);
        await Promise.all([...Array.from({ length: 5 }, () => tripsA.bus.flush()), ...Array.from({ length: 5 }, () => tripsB.bus.flush())]);

        const unpublished: unknown[] = await tripsA.db.orm.em.getConnection().execute(`select 1 from "trips"."outbox" where "published_at" is null`);
        assert.equal(unpublished.length, 0);
        assert.equal(appended.size, 300);
        assert.deepEqual([...new Set(appended.values())], [1], 'the two relays appended each row exactly once between them');
        if (mode === 'Postgres + Redis Streams') assert.equal((await world.streamLength('trips')) - before, 300, 'each row reached the stream exactly once');
        await eventually(async () => (await appliedRows(wallet, 'relay-race')).length >= 300, { what: 'all 300 events' });
        const rows = await appliedRows(wallet, 'relay-race');
        assert.deepEqual(rows.map((row) => row.event_id).sort(), events.map((event) => event.id).sort());
        assert.equal(calls, 300);
        await tripsA.stop();
        await tripsB.stop();
        await wallet.stop();
      });
    }
  });
}
