import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import { verifyWebhookSignature } from '../../platform/webhook-signature.ts';
import WebSocket from 'ws';
import { Ledger, describeCheck } from '../../subgraphs/wallet/ledger/index.ts';
import { dataOf } from '../support/client.ts';
import { CAIRO, nextEvent, offset, RideFixtures, waitFor } from '../support/rides.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

/**
 * A partner's whole path through the router, as a partner integration runs it: an admin creates the
 * partner, its API key (allowed the partner manifest's operations) and its credit; the partner prices and
 * books for a guest by persisted id with its key (x-api-key), follows the trip over graphql-ws with the key
 * in connectionParams, a driver completes it, the partner's account is debited, its statement shows it,
 * and its webhook endpoint (a local receiver) gets the trip's status changes, signed.
 * Free text from the key is refused (PERSISTED_QUERY_NOT_IN_LIST), as is an unknown id.
 */
interface ManifestOperation {
  id: string;
  name: string;
  body: string;
}
const manifest = JSON.parse(readFileSync(new URL('../../schema/persisted-queries.json', import.meta.url), 'utf8')) as { operations: ManifestOperation[] };
const byName = (name: string) => manifest.operations.find((operation) => operation.name === name)!;

describe("a partner's journey through the router: key, persisted operations, guest ride, bill", () => {
  let stack: Stack;
  let rides: RideFixtures;
  let admin: TestUser;
  let ledger: Ledger;
  let partnerId: string;
  let apiKey: string;
  /** The partner's webhook receiver: every delivery with whether its signature verified. */
  let receiver: Server;
  const received: Array<{ verified: boolean; eventId: string; body: any }> = [];
  let webhookSecret = '';

  before(async () => {
    stack = await startStack({ subgraphs: ['drivers', 'trips', 'pricing', 'wallet'] });
    rides = new RideFixtures(stack);
    admin = await rides.admin();
    ledger = new Ledger(stack.subgraph('wallet').db);
    const as = (query: string, variables: Record<string, unknown> = {}) => stack.query(query, variables, { token: admin.accessToken });
    partnerId = dataOf<any>(await as(`mutation { createPartner(input: { name: "Nile Hotel" }) { id } }`)).createPartner.id;
    const operations = ['PartnerFareEstimates', 'PartnerBookRide', 'PartnerTripUpdates', 'PartnerStatement', 'PartnerSetWebhook'];
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        let verified = true;
        try {
          verifyWebhookSignature({ secret: webhookSecret, rawBody: raw, header: req.headers['smartline-signature'] });
        } catch {
          verified = false;
        }
        received.push({ verified, eventId: String(req.headers['smartline-event-id']), body: JSON.parse(raw.toString('utf8')) });
        res.writeHead(verified ? 200 : 400).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    apiKey = dataOf<any>(await as(`mutation($p: ID!, $i: CreateApiKeyInput!) { createApiKey(partnerId: $p, input: $i) { key } }`, { p: partnerId, i: { name: 'front desk', operations, requestsPerMinute: 600 } })).createApiKey.key;
    dataOf(await as(`mutation($p: ID!, $a: MoneyInput!) { setPartnerCreditLimit(partnerId: $p, amount: $a) { creditLimit { amount } } }`, { p: partnerId, a: { amount: '2000.00', currency: 'EGP' } }));
  });
  after(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
    await ledger?.close();
    await rides?.dispose();
    await stack?.stop();
  });

  /** A request with the partner's key: by `persistedQuery` hash (Apollo's protocol) or by `documentId`. */
  async function asPartner(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
    const response = await fetch(stack.routerUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, body: JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  }
  const byHash = (name: string, variables: Record<string, unknown>) => ({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: byName(name).id } } });

  it('prices and books by id, follows the trip over graphql-ws, is billed for the completed ride and told by its webhook', async () => {
    const hook = await asPartner({ documentId: byName('PartnerSetWebhook').id, variables: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/smartline` } });
    assert.equal(hook.status, 200, JSON.stringify(hook.body));
    webhookSecret = hook.body.data.setPartnerWebhook.secret;
    const pickup = offset(CAIRO, 0, 500_000);
    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    const estimates = await asPartner(byHash('PartnerFareEstimates', { pickup, dropoff: offset(pickup, 3_000), vehicleTypes: ['COMFORT'] }));
    assert.equal(estimates.status, 200, JSON.stringify(estimates.body));
    const [quote] = estimates.body.data.fareEstimates;

    const booked = await asPartner({
      documentId: byName('PartnerBookRide').id,
      variables: { input: { quoteId: quote.id, guest: { phone: `+2012${String(process.pid % 10_000).padStart(4, '0')}7777`, name: 'Guest, room 214' }, note: 'room 214' }, idempotencyKey: `journey-${randomUUID()}` },
    });
    assert.equal(booked.status, 200, JSON.stringify(booked.body));
    const trip = booked.body.data.bookRideForGuest;
    assert.equal(trip.status, 'REQUESTED');

    const ws = createClient({ url: stack.routerUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { 'x-api-key': apiKey }, retryAttempts: 0, lazy: true });
    try {
      const updates = ws.iterate({ query: '', variables: { tripId: trip.id }, extensions: { persistedQuery: { version: 1, sha256Hash: byName('PartnerTripUpdates').id } } } as never) as AsyncIterableIterator<{ data?: any; errors?: any[] }>;
      const first = await nextEvent(updates);
      assert.equal(first.data?.tripUpdates.id, trip.id, JSON.stringify(first));

      const offered = () => stack.subgraph('trips').db.fork().getConnection().execute(`select 1 from "trips"."trip_offers" where "trip_id" = ? and "driver_user_id" = ? and "status" = 'PENDING'`, [trip.id, driver.id], 'all');
      await waitFor(async () => ((await offered()).length ? true : undefined), { what: 'an offer to the driver' });
      for (const step of ['acceptTripOffer', 'markArrived', 'startTrip', 'completeTrip']) {
        dataOf(await stack.query(`mutation($id: ID!) { ${step}(tripId: $id) { id status } }`, { id: trip.id }, { token: driver.accessToken }));
      }
      let status = first.data?.tripUpdates.status;
      while (status !== 'COMPLETED') status = (await nextEvent(updates)).data?.tripUpdates.status;
    } finally {
      await ws.dispose();
    }

    const month = new Date().toISOString().slice(0, 7);
    const statement = await waitFor(async () => {
      const read = await asPartner(byHash('PartnerStatement', { month }));
      return read.body.data?.partnerStatement?.lines.length ? read.body.data.partnerStatement : undefined;
    }, { what: "the partner's statement to show the ride", timeoutMs: 15_000 });
    assert.deepEqual(statement.lines.map((line: any) => [line.tripId, line.kind, line.amount.amount]), [[trip.id, 'FARE', quote.fare.amount]]);
    assert.equal(statement.account.outstanding.amount, quote.fare.amount);
    const check = await ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));

    const delivered = await waitFor(() => (received.some((hit) => hit.body.data?.tripId === trip.id && hit.body.data?.status === 'COMPLETED') ? received.filter((hit) => hit.body.data?.tripId === trip.id) : undefined), { what: 'the COMPLETED webhook', timeoutMs: 20_000 });
    assert.ok(delivered.every((hit) => hit.verified), 'every delivery is signed with the endpoint secret');
    // A retried delivery may arrive after a later one: receivers order by the event's time.
    const inOrder = [...delivered].sort((a, b) => String(a.body.createdAt).localeCompare(String(b.body.createdAt)));
    assert.deepEqual(inOrder.map((hit) => hit.body.data.status), ['REQUESTED', 'DRIVER_ASSIGNED', 'DRIVER_ARRIVED', 'IN_PROGRESS', 'COMPLETED']);
    assert.equal(new Set(delivered.map((hit) => hit.eventId)).size, delivered.length, 'each event once');
  });

  it("refuses the key's free text, an unknown id, an operation its key does not allow, and a bad key", async () => {
    const text = await asPartner({ query: '{ partnerTrips(first: 5) { edges { node { id } } } }' });
    assert.deepEqual([text.status, text.body.errors[0].extensions.code], [400, 'PERSISTED_QUERY_NOT_IN_LIST']);
    const unknown = await asPartner({ documentId: 'f'.repeat(64), variables: {} });
    assert.deepEqual([unknown.status, unknown.body.errors[0].extensions.code], [404, 'PERSISTED_QUERY_NOT_FOUND']);
    const notAllowed = await asPartner(byHash('PartnerTrips', { first: 5 }));
    assert.equal(notAllowed.body.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_IN_LIST', 'PartnerTrips is not among this key’s operations');
    const response = await fetch(stack.routerUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': `${apiKey.slice(0, -4)}AAAA` }, body: JSON.stringify(byHash('PartnerFareEstimates', {})) });
    assert.deepEqual([response.status, ((await response.json()) as any).errors[0].extensions.code], [401, 'UNAUTHENTICATED']);
  });
});
