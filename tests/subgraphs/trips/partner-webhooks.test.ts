import { partnerUser } from '../../support/tokens.ts';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { executeStatement, type EntityManager } from '../../../platform/db.ts';
import { TripCancelled, TripCompleted, TripDriverArrived, TripMatched, TripRequested, TripStarted } from '../../../platform/events/contracts/index.ts';
import type { AnyEventContract, ConsumerOptions, EventBus, EventData, EventOf } from '../../../platform/events/index.ts';
import { createLogger } from '../../../platform/logger.ts';
import { verifyWebhookSignature } from '../../../platform/webhook-signature.ts';
import { Trip } from '../../../subgraphs/trips/entities.ts';
import { createTripsSubgraph, partnerWebhooksOf } from '../../../subgraphs/trips/index.ts';
import { DeliveryWorker, EVENT_ID_HEADER, SIGNATURE_HEADER } from '../../../subgraphs/trips/partner-webhooks/delivery.ts';
import { PartnerWebhookService, webhookUrlProblem } from '../../../subgraphs/trips/partner-webhooks/service.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { CAIRO, offset, RideFixtures, waitFor } from '../../support/rides.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';
import { tripRow } from './quotes.ts';

const SET_WEBHOOK = `mutation($url: String!) { setPartnerWebhook(url: $url) { url secret createdAt updatedAt } }`;
const WEBHOOK = `query { partnerWebhook { url secret createdAt } }`;
const DELIVERIES = `query($status: PartnerWebhookDeliveryStatus, $p: ID, $first: Int, $after: String) { partnerWebhookDeliveries(status: $status, partnerId: $p, first: $first, after: $after) { edges { cursor node { id eventId eventType partnerId tripId url status attempts lastError lastStatusCode deliveredAt } } pageInfo { hasNextPage endCursor } } }`;
const RETRY = `mutation($id: ID!) { retryPartnerWebhookDelivery(id: $id) { id status attempts } }`;
const ESTIMATES = `query($p: LatLngInput!, $d: LatLngInput!) { fareEstimates(pickup: $p, dropoff: $d, vehicleTypes: [COMFORT]) { id fare { amount currency } } }`;
const BOOK = `mutation($input: BookRideForGuestInput!, $key: String!) { bookRideForGuest(input: $input, idempotencyKey: $key) { id status } }`;
const SET_LIMIT = `mutation($p: ID!, $a: MoneyInput!) { setPartnerCreditLimit(partnerId: $p, amount: $a) { creditLimit { amount } } }`;

interface Received {
  path: string;
  eventId: string;
  headerEventId: string | undefined;
  body: any;
  verified: boolean;
}

/** A partner's receiver on 127.0.0.1:0: each path verifies with its partner's secret and answers as told. */
class Receiver {
  readonly received: Received[] = [];
  readonly secrets = new Map<string, string>();
  readonly answers = new Map<string, () => number>();
  #server!: Server;

  async start() {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks);
        const path = request.url ?? '/';
        let verified = false;
        try {
          verifyWebhookSignature({ secret: this.secrets.get(path) ?? '', rawBody: raw, header: request.headers[SIGNATURE_HEADER.toLowerCase()] });
          verified = true;
        } catch {
          verified = false;
        }
        const body = JSON.parse(raw.toString('utf8'));
        this.received.push({ path, eventId: body.id, headerEventId: request.headers[EVENT_ID_HEADER.toLowerCase()] as string | undefined, body, verified });
        const status = verified ? (this.answers.get(path)?.() ?? 200) : 401;
        response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `nope ${'x'.repeat(5_000)}`);
      });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string) {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  at(path: string) {
    return this.received.filter((entry) => entry.path === path);
  }

  /** What a receiver that deduplicates by event id keeps (first of each id). */
  deduped(path: string) {
    const seen = new Set<string>();
    return this.at(path).filter((entry) => (seen.has(entry.eventId) ? false : (seen.add(entry.eventId), true)));
  }

  stop() {
    return new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A trip event as the consumer hands it to its handlers (parsed, from trips' stream). */
function tripEvent<C extends AnyEventContract>(contract: C, id: string, data: EventData<C> & { tripId: string }): EventOf<C> {
  return { id, type: contract.type, source: 'trips', occurredAt: new Date().toISOString(), key: data.tripId, data } as EventOf<C>;
}

/** `em`, counting the statements run through it (executeStatement runs a transaction's with em.execute). */
function countingStatements(em: EntityManager): { em: EntityManager; count: () => number } {
  let count = 0;
  const counted = new Proxy(em, {
    get(target, property) {
      if (property === 'execute') {
        return (...args: unknown[]) => {
          count += 1;
          return (target as any).execute(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { em: counted, count: () => count };
}

describe('outgoing webhooks: partners receive their trips status changes, signed (trips subgraph)', () => {
  let stack: Stack;
  let rides: RideFixtures;
  let admin: TestUser;
  const receiver = new Receiver();

  const partnerToken = () => partnerUser(stack);

  const as = (user: TestUser, query: string, variables: Record<string, unknown> = {}) => stack.query(query, variables, { token: user.accessToken });

  /** A partner with an endpoint at `path` of the receiver (its secret handed to the receiver). */
  async function partnerWithEndpoint(path: string): Promise<TestUser> {
    const partner = await partnerToken();
    const set = dataOf<any>(await as(partner, SET_WEBHOOK, { url: receiver.url(path) })).setPartnerWebhook;
    assert.match(set.secret, /^whsec_/);
    receiver.secrets.set(path, set.secret);
    return partner;
  }

  const trips = () => stack.subgraph('trips');
  const deliveryRows = (where: string, params: unknown[]) =>
    executeStatement<{ id: string; event_id: string; status: string; attempts: number; body: string; last_error: string | null }>(trips().db.fork(), `select * from "trips"."partner_webhook_deliveries" where ${where} order by "seq"`, params);

  /** A trip event written to trips' outbox and published, as trips' relay would; `republish` sends the same row (same id) again. */
  async function recordTripEvent<C extends AnyEventContract>(contract: C, data: EventData<C> & { tripId: string }) {
    const insert = trips().runtime.events.outboxInsert({ contract, key: data.tripId, data });
    await executeStatement(trips().db.fork(), insert.sql, insert.params);
    await trips().runtime.events.flush();
    return insert.event.id;
  }

  const partnerCancelled = (partnerId: string, tripId = randomUUID()) =>
    recordTripEvent(TripCancelled, {
      tripId,
      riderId: randomUUID(),
      driverId: null,
      driverUserId: null,
      cancelledBy: 'PARTNER',
      reason: 'guest left',
      feeMinor: '0',
      currency: 'EGP',
      cancelledAt: new Date().toISOString(),
      paymentMethod: 'PARTNER',
      partnerId,
    });

  /** Waits until the receiver holds an event of `eventId` at `path` (and every event before it is consumed). */
  const arrived = (path: string, eventId: string, what = `event ${eventId} at ${path}`) =>
    waitFor(() => receiver.at(path).find((entry) => entry.eventId === eventId), { what, timeoutMs: 15_000 });

  before(async () => {
    await receiver.start();
    stack = await startStack({
      subgraphs: ['drivers', 'trips', 'pricing', 'wallet'],
      env: { PERSISTED_OPERATIONS: 'off' },
      events: { retryAfterMs: 300 },
      setups: { trips: createTripsSubgraph({ partnerWebhooks: { retryDelaysMs: [30, 30], pollMs: 20, timeoutMs: 2_000 } }) },
    });
    rides = new RideFixtures(stack);
    admin = await rides.admin();
  });
  after(async () => {
    await rides?.dispose();
    await stack?.stop();
    await receiver.stop();
  });

  it("delivers a partner ride's status changes signed, in event order, each once (a redelivered event is not sent again)", async () => {
    const partner = await partnerWithEndpoint('/ride');
    dataOf(await as(admin, SET_LIMIT, { p: partner.id, a: { amount: '1000.00', currency: 'EGP' } }));
    const read = dataOf<any>(await as(partner, WEBHOOK)).partnerWebhook;
    assert.deepEqual([read.url, read.secret], [receiver.url('/ride'), null]);

    const pickup = offset(CAIRO, 0, 300_000);
    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    const [estimate] = dataOf<any>(await as(partner, ESTIMATES, { p: pickup, d: offset(pickup, 3_000) })).fareEstimates;
    const booked = dataOf<any>(await as(partner, BOOK, { input: { quoteId: estimate.id, guest: { phone: `+2012${String(process.pid % 10_000).padStart(4, '0')}0001`, name: 'Guest' } }, key: `webhook-${randomUUID()}` })).bookRideForGuest;
    const offers = () => executeStatement(trips().db.fork(), `select 1 from "trips"."trip_offers" where "trip_id" = ? and "driver_user_id" = ? and "status" = 'PENDING'`, [booked.id, driver.id]);
    await waitFor(async () => ((await offers()).length ? true : undefined), { what: 'an offer to the driver' });
    for (const step of ['acceptTripOffer', 'markArrived', 'startTrip', 'completeTrip']) dataOf(await as(driver, `mutation($id: ID!) { ${step}(tripId: $id) { id } }`, { id: booked.id }));

    await waitFor(() => (receiver.at('/ride').some((entry) => entry.body.data.status === 'COMPLETED') ? true : undefined), { what: 'COMPLETED delivered', timeoutMs: 15_000 });
    const got = receiver.at('/ride');
    assert.deepEqual(got.map((entry) => entry.body.data.status), ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
    for (const entry of got) {
      assert.ok(entry.verified, 'signed with the endpoint secret');
      assert.equal(entry.headerEventId, entry.eventId);
      assert.equal(entry.body.type, 'trip.status_changed');
      assert.equal(entry.body.data.tripId, booked.id);
      assert.ok(!Number.isNaN(Date.parse(entry.body.createdAt)));
    }
    assert.equal(new Set(got.map((entry) => entry.eventId)).size, 5);
    assert.equal(got.at(-1)!.body.data.fare.amount, estimate.fare.amount);
    const outbox = await executeStatement<{ id: string; type: string }>(trips().db.fork(), `select "id", "type" from "trips"."outbox" where "key" = ? order by "occurred_at"`, [booked.id]);
    assert.deepEqual(got.map((entry) => entry.eventId), outbox.map((row) => row.id), 'one delivery per event, the outbox ids');
    // The receiver answered before the worker wrote the outcome: wait for the rows.
    const rows = await waitFor(async () => {
      const found = await deliveryRows(`"partner_id" = ?`, [partner.id]);
      return found.every((row) => row.status === 'DELIVERED') ? found : undefined;
    }, { what: 'the deliveries marked DELIVERED' });
    assert.deepEqual(rows.map((row) => [row.status, row.attempts]), got.map(() => ['DELIVERED', 1]));

    // The relay publishes TripStarted's row again (same event id): the consumer has applied it, nothing is sent.
    const started = outbox.find((row) => row.type === 'TripStarted')!;
    await executeStatement(trips().db.fork(), `update "trips"."outbox" set "published_at" = null where "id" = ?`, [started.id]);
    await trips().runtime.events.flush();
    // A later event of the same partner, on the same stream: once it arrives, the redelivered one was consumed before it.
    const sentinel = await partnerCancelled(partner.id);
    await arrived('/ride', sentinel);
    assert.equal(receiver.at('/ride').filter((entry) => entry.eventId === started.id).length, 1);
    assert.equal((await deliveryRows(`"event_id" = ?`, [started.id])).length, 1);
    assert.equal(receiver.deduped('/ride').length, receiver.at('/ride').length);
  });

  it("applies a read of trip events in one statement: the partner's deliveries in event order, once; a replay adds none", async () => {
    const partner = await partnerWithEndpoint('/read');
    const partnerTrip = randomUUID();
    const riderTrip = randomUUID();
    const em = trips().db.fork();
    for (const [id, partnerId] of [[partnerTrip, partner.id], [riderTrip, null]] as const) {
      em.create(Trip, tripRow({ id, partnerId, driverId: randomUUID(), driverUserId: randomUUID(), status: 'IN_PROGRESS', paymentMethod: partnerId ? 'PARTNER' : 'CASH' }));
    }
    await em.flush();

    // Event ids descending: deliveries ordered by event id rather than by the read would come out reversed.
    const ids = Array.from({ length: 8 }, () => randomUUID()).sort().reverse();
    const at = new Date().toISOString();
    const partyOf = (tripId: string) => ({ tripId, riderId: randomUUID(), driverId: randomUUID(), driverUserId: randomUUID() });
    const requested = (id: string, tripId: string, partnerId: string | null) =>
      tripEvent(TripRequested, id, { tripId, riderId: randomUUID(), quoteId: randomUUID(), vehicleType: 'ECONOMY', pickup: { lat: 30.05, lng: 31.23 }, dropoff: { lat: 30.06, lng: 31.25 }, fareMinor: '5000', currency: 'EGP', paymentMethod: partnerId ? 'PARTNER' : 'CASH', requestedAt: at, partnerId });
    const read = [
      requested(ids[0]!, partnerTrip, partner.id),
      requested(ids[1]!, riderTrip, null), // says CASH: skipped before any SQL
      tripEvent(TripMatched, ids[2]!, { ...partyOf(partnerTrip), vehicleType: 'ECONOMY', matchedAt: at }), // names no partner: the trip's row does
      tripEvent(TripMatched, ids[3]!, { ...partyOf(riderTrip), vehicleType: 'ECONOMY', matchedAt: at }), // the trip's row names none
      tripEvent(TripDriverArrived, ids[4]!, { ...partyOf(partnerTrip), arrivedAt: at }),
      tripEvent(TripStarted, ids[5]!, { ...partyOf(riderTrip), startedAt: at }),
      tripEvent(TripStarted, ids[6]!, { ...partyOf(partnerTrip), startedAt: at }),
      tripEvent(TripCompleted, ids[7]!, { ...partyOf(partnerTrip), fareMinor: '5000', commissionMinor: '500', currency: 'EGP', paymentMethod: 'PARTNER', completedAt: at, partnerId: partner.id }),
    ];

    // The consumer's handlers as the service registers them on the bus.
    let consumer: ConsumerOptions<any> | undefined;
    partnerWebhooksOf(trips().runtime).service.consume({ consume: (options) => void (consumer = options) } as Pick<EventBus, 'consume'>);
    assert.ok(consumer?.handleMany, 'a whole read is handled at once');
    /** Applies `events` as the consumer applies a read (one transaction); answers the statements it ran. */
    const applyRead = (events: readonly EventOf<any>[]) =>
      trips().db.fork().transactional(async (transaction) => {
        const counting = countingStatements(transaction);
        await consumer!.handleMany!([...events], counting.em);
        return counting.count();
      });

    assert.equal(await applyRead(read), 1);
    const rows = await deliveryRows(`"body"::jsonb -> 'data' ->> 'tripId' in (?, ?)`, [partnerTrip, riderTrip]);
    assert.deepEqual(rows.map((row) => row.event_id), [ids[0], ids[2], ids[4], ids[6], ids[7]], "the partner trip's events, in the read's order");
    assert.deepEqual(rows.map((row) => JSON.parse(row.body).data.status), ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
    assert.ok(rows.every((row) => JSON.parse(row.body).data.tripId === partnerTrip));
    assert.equal((await deliveryRows(`"partner_id" = ?`, [partner.id])).length, 5);

    // The same read again (as after a lost processed-events record): nothing more is inserted.
    assert.equal(await applyRead(read), 1);
    assert.deepEqual((await deliveryRows(`"body"::jsonb -> 'data' ->> 'tripId' in (?, ?)`, [partnerTrip, riderTrip])).map((row) => row.id), rows.map((row) => row.id));

    // A read of events that all say they are riders' runs no statement at all.
    assert.equal(await applyRead([requested(randomUUID(), riderTrip, null), requested(randomUUID(), randomUUID(), null)]), 0);
  });

  it('retries with backoff: a receiver answering 500 twice then 200 gets it on the third try', async () => {
    const partner = await partnerWithEndpoint('/flaky');
    let calls = 0;
    receiver.answers.set('/flaky', () => (++calls <= 2 ? 500 : 200));
    const eventId = await partnerCancelled(partner.id);
    const [row] = await waitFor(async () => {
      const found = await deliveryRows(`"event_id" = ? and "status" = 'DELIVERED'`, [eventId]);
      return found.length ? found : undefined;
    }, { what: 'the delivery delivered', timeoutMs: 15_000 });
    assert.equal(row!.attempts, 3);
    const tries = receiver.at('/flaky');
    assert.equal(tries.length, 3);
    assert.ok(tries.every((entry) => entry.verified && entry.eventId === eventId));
    assert.equal(new Set(tries.map((entry) => JSON.stringify(entry.body))).size, 1, 'the same body each try');
  });

  it('dead-letters after the last try, lists it for admins only, and an admin retries it', async () => {
    const partner = await partnerWithEndpoint('/down');
    let up = false;
    receiver.answers.set('/down', () => (up ? 204 : 500));
    const eventId = await partnerCancelled(partner.id);
    await waitFor(async () => ((await deliveryRows(`"event_id" = ? and "status" = 'DEAD'`, [eventId])).length ? true : undefined), { what: 'the delivery dead', timeoutMs: 15_000 });
    assert.equal(receiver.at('/down').length, 3);

    const listed = dataOf<any>(await as(admin, DELIVERIES, { status: 'DEAD', p: partner.id })).partnerWebhookDeliveries;
    assert.equal(listed.edges.length, 1);
    const dead = listed.edges[0].node;
    assert.deepEqual([dead.eventId, dead.partnerId, dead.status, dead.attempts, dead.lastStatusCode, dead.eventType, dead.url], [eventId, partner.id, 'DEAD', 3, 500, 'TripCancelled', receiver.url('/down')]);
    assert.ok(dead.lastError.startsWith('HTTP 500') && dead.lastError.length <= 500, 'a short excerpt of the answer');
    // Newest first across partners, paged.
    const page = dataOf<any>(await as(admin, DELIVERIES, { first: 1 })).partnerWebhookDeliveries;
    assert.equal(page.edges[0].node.eventId, eventId);
    assert.equal(page.pageInfo.hasNextPage, true);
    const next = dataOf<any>(await as(admin, DELIVERIES, { first: 1, after: page.pageInfo.endCursor })).partnerWebhookDeliveries;
    assert.notEqual(next.edges[0].node.id, dead.id);
    assertErrorCode(await as(partner, DELIVERIES, {}), 'FORBIDDEN');
    assertErrorCode(await as(partner, RETRY, { id: dead.id }), 'FORBIDDEN');

    up = true;
    const retried = dataOf<any>(await as(admin, RETRY, { id: dead.id })).retryPartnerWebhookDelivery;
    assert.deepEqual([retried.status, retried.attempts], ['PENDING', 0]);
    await waitFor(async () => ((await deliveryRows(`"event_id" = ? and "status" = 'DELIVERED'`, [eventId])).length ? true : undefined), { what: 'the retried delivery delivered', timeoutMs: 15_000 });
    assert.equal(receiver.at('/down').length, 4);
    assertErrorCode(await as(admin, RETRY, { id: dead.id }), 'CONFLICT');
    assertErrorCode(await as(admin, RETRY, { id: randomUUID() }), 'NOT_FOUND');
    assertErrorCode(await as(admin, RETRY, { id: 'nope' }), 'BAD_USER_INPUT');
  });

  it("sends nothing for a rider's trip or a partner with no endpoint", async () => {
    const partner = await partnerWithEndpoint('/quiet');
    const endpointless = await partnerToken();
    const riderTrip = randomUUID();
    await recordTripEvent(TripCancelled, { tripId: riderTrip, riderId: randomUUID(), driverId: null, driverUserId: null, cancelledBy: 'RIDER', reason: 'changed plans', feeMinor: '0', currency: 'EGP', cancelledAt: new Date().toISOString(), paymentMethod: 'CASH' });
    // No partnerId in TripStarted: the trip is looked up in trips' own rows (there is none: not a partner's).
    const unknownTrip = randomUUID();
    await recordTripEvent(TripStarted, { tripId: unknownTrip, riderId: randomUUID(), driverId: randomUUID(), driverUserId: randomUUID(), startedAt: new Date().toISOString() });
    const noEndpoint = await partnerCancelled(endpointless.id);
    const sentinel = await partnerCancelled(partner.id);
    await arrived('/quiet', sentinel);
    assert.equal((await deliveryRows(`"body"::jsonb -> 'data' ->> 'tripId' in (?, ?)`, [riderTrip, unknownTrip])).length, 0);
    assert.equal((await deliveryRows(`"event_id" = ? or "partner_id" = ?`, [noEndpoint, endpointless.id])).length, 0);
    assert.ok(!receiver.received.some((entry) => [riderTrip, unknownTrip].includes(entry.body.data.tripId)));
  });

  it('sends each delivery once with several workers claiming at once (replicas): skip locked and a lease', async () => {
    const partner = await partnerWithEndpoint('/replicas');
    const { service } = partnerWebhooksOf(trips().runtime);
    const logger = createLogger(stack.config('trips'));
    const replicas = [1, 2, 3].map(() => new DeliveryWorker({ db: trips().db, repository: service.repository, logger, manual: true, batchSize: 2 }));
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await partnerCancelled(partner.id));
    await waitFor(async () => {
      await Promise.all(replicas.map((worker) => worker.runOnce()));
      return (await deliveryRows(`"partner_id" = ? and "status" = 'DELIVERED'`, [partner.id])).length === ids.length ? true : undefined;
    }, { what: 'every delivery delivered', timeoutMs: 15_000 });
    await Promise.all(replicas.map((worker) => worker.stop()));
    const got = receiver.at('/replicas').map((entry) => entry.eventId);
    assert.deepEqual([...got].sort(), [...ids].sort(), 'each event once, none twice');
    assert.deepEqual((await deliveryRows(`"partner_id" = ?`, [partner.id])).map((row) => row.attempts), ids.map(() => 1));
  });

  it('refuses unusable URLs with nothing written; partners only; http only to loopback and never in production', async () => {
    const partner = await partnerToken();
    for (const url of ['not a url', 'ftp://example.com/hook', 'http://example.com/hook', 'https://user:pw@example.com/hook', `https://example.com/${'a'.repeat(2_000)}`, 'https://example.com/hook#frag', '']) {
      assertErrorCode(await as(partner, SET_WEBHOOK, { url }), 'BAD_USER_INPUT');
    }
    assert.equal(dataOf<any>(await as(partner, WEBHOOK)).partnerWebhook, null);
    const rider = await stack.signUp('RIDER');
    assertErrorCode(await as(rider, SET_WEBHOOK, { url: 'https://example.com/hook' }), 'FORBIDDEN');
    assertErrorCode(await as(rider, WEBHOOK), 'FORBIDDEN');

    // Production's rules, on the same database: https to a public host only.
    const production = new PartnerWebhookService({ production: true });
    const principal = { userId: partner.id, role: 'PARTNER' } as any;
    for (const url of ['http://127.0.0.1:8080/hook', 'http://localhost/hook', 'https://127.0.0.1/hook', 'https://10.1.2.3/hook', 'https://[::1]/hook', 'https://localhost/hook']) {
      await assert.rejects(production.setWebhook(trips().db.fork(), principal, { url }), (error: any) => error.code === 'BAD_USER_INPUT', url);
    }
    assert.equal(await production.webhookOf(trips().db.fork(), principal), null, 'nothing written');
    assert.equal(webhookUrlProblem('https://hooks.example.com/smartline', { production: true }), null);
    assert.equal(webhookUrlProblem('http://127.0.0.1:9/x', { production: false }), null);

    // Rotation: a new secret each time, shown once; the created time stays.
    const first = dataOf<any>(await as(partner, SET_WEBHOOK, { url: 'https://hooks.example.com/a' })).setPartnerWebhook;
    const second = dataOf<any>(await as(partner, SET_WEBHOOK, { url: 'https://hooks.example.com/b' })).setPartnerWebhook;
    assert.notEqual(first.secret, second.secret);
    assert.equal(second.createdAt, first.createdAt);
    assert.equal(dataOf<any>(await as(partner, WEBHOOK)).partnerWebhook.url, 'https://hooks.example.com/b');
    assert.ok(partnerWebhooksOf(trips().runtime).worker, 'the worker runs in the subgraph');
  });
});
