import { partnerUser } from '../support/tokens.ts';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Ledger, describeCheck } from '../../subgraphs/wallet/ledger/index.ts';
import { assertErrorCode, dataOf } from '../support/client.ts';
import { CAIRO, nextEvent, offset, RideFixtures, waitFor } from '../support/rides.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

const TRIP = `id status paymentMethod partnerId partnerNote rider { id } fare { amount currency } cancellation { by fee { amount } }`;
const ESTIMATES = `query($p: LatLngInput!, $d: LatLngInput!) { fareEstimates(pickup: $p, dropoff: $d, vehicleTypes: [COMFORT]) { id fare { amount currency } } }`;
const BOOK = `mutation($input: BookRideForGuestInput!, $key: String!) { bookRideForGuest(input: $input, idempotencyKey: $key) { ${TRIP} } }`;
const PARTNER_TRIPS = `query($status: TripStatus) { partnerTrips(first: 10, status: $status) { edges { node { id status } } } }`;
const TRIP_BY_ID = `query($id: ID!) { trip(id: $id) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelPartnerTrip(tripId: $id, reason: "guest left") { ${TRIP} } }`;
const SET_LIMIT = `mutation($p: ID!, $a: MoneyInput!) { setPartnerCreditLimit(partnerId: $p, amount: $a) { creditLimit { amount } outstanding { amount } held { amount } availableCredit { amount } } }`;
const STATEMENT = `query($m: String!, $p: ID) { partnerStatement(month: $m, partnerId: $p) { partnerId trips fares { amount } total { amount } lines { tripId kind amount { amount } } account { outstanding { amount } held { amount } creditLimit { amount } } } }`;
const UPDATES = `subscription($id: ID!) { tripUpdates(tripId: $id) { id status } }`;

let keys = 0;
const newKey = () => `partner-key-${process.pid}-${++keys}-${randomUUID().slice(0, 8)}`;
let phones = 0;
const guestPhone = () => `+2011${String(process.pid % 10_000).padStart(4, '0')}${String(++phones).padStart(4, '0')}`;

describe('partners book rides for guests, billed on their account (through the router)', () => {
  let stack: Stack;
  let rides: RideFixtures;
  let admin: TestUser;
  let ledger: Ledger;
  const partners: Record<'A' | 'B', TestUser> = {} as never;

  const partnerToken = () => partnerUser(stack);

  const as = (user: TestUser, query: string, variables: Record<string, unknown> = {}) => stack.query(query, variables, { token: user.accessToken });
  let area = 0;
  const freshArea = () => offset(CAIRO, 0, 200_000 + ++area * 40_000);

  async function quote(partner: TestUser, pickup: { lat: number; lng: number }) {
    const [estimate] = dataOf<any>(await as(partner, ESTIMATES, { p: pickup, d: offset(pickup, 3_000) })).fareEstimates;
    return estimate as { id: string; fare: { amount: string } };
  }

  const book = (partner: TestUser, quoteId: string, key = newKey(), guest = { phone: guestPhone(), name: 'Guest Room 12' }) =>
    as(partner, BOOK, { input: { quoteId, guest, note: 'room 12' }, key });

  const tripRows = (where: string, params: unknown[]) =>
    stack.subgraph('trips').db.fork().getConnection().execute(`select "id", "status" from "trips"."trips" where ${where}`, params as any[], 'all') as Promise<Array<{ id: string; status: string }>>;

  before(async () => {
    // Partners' operations as text: the persisted-operation safelist (PERSISTED_OPERATIONS=partners) is
    // the edge's concern, tested on its own; these operations are not in the partner manifest yet.
    stack = await startStack({ subgraphs: ['drivers', 'trips', 'pricing', 'wallet'], env: { PERSISTED_OPERATIONS: 'off' } });
    rides = new RideFixtures(stack);
    admin = await rides.admin();
    ledger = new Ledger(stack.subgraph('wallet').db);
    partners.A = await partnerToken();
    partners.B = await partnerToken();
    for (const partner of [partners.A, partners.B]) dataOf(await as(admin, SET_LIMIT, { p: partner.id, a: { amount: '1000.00', currency: 'EGP' } }));
  });
  after(async () => {
    await ledger?.close();
    await rides?.dispose();
    await stack?.stop();
  });

  it('prices, books, dispatches, completes and bills the partner; the statement shows it; the ledger balances', async () => {
    const pickup = freshArea();
    const driver = await rides.onlineDriverAt(offset(pickup, 300));
    const estimate = await quote(partners.A, pickup);
    const booked = dataOf<any>(await book(partners.A, estimate.id)).bookRideForGuest;
    assert.equal(booked.paymentMethod, 'PARTNER');
    assert.equal(booked.partnerId, partners.A.id);
    assert.equal(booked.partnerNote, 'room 12');

    const limits = dataOf<any>(await as(admin, SET_LIMIT, { p: partners.A.id, a: { amount: '1000.00', currency: 'EGP' } })).setPartnerCreditLimit;
    assert.equal(limits.held.amount, estimate.fare.amount);

    const updates = rides.subscribe(partners.A, UPDATES, { id: booked.id });
    assert.equal((await nextEvent(updates)).data?.tripUpdates.id, booked.id);

    const offers = () => stack.subgraph('trips').db.fork().getConnection().execute(`select 1 from "trips"."trip_offers" where "trip_id" = ? and "driver_user_id" = ? and "status" = 'PENDING'`, [booked.id, driver.id], 'all');
    await waitFor(async () => ((await offers()).length ? true : undefined), { what: 'an offer to the driver' });
    for (const step of ['acceptTripOffer', 'markArrived', 'startTrip', 'completeTrip']) {
      dataOf(await as(driver, `mutation($id: ID!) { ${step}(tripId: $id) { id status } }`, { id: booked.id }));
    }
    const statuses: string[] = [];
    for (;;) {
      const event = await nextEvent(updates);
      statuses.push(event.data?.tripUpdates.status);
      if (event.data?.tripUpdates.status === 'COMPLETED') break;
    }
    assert.equal(statuses.at(-1), 'COMPLETED');

    const month = new Date().toISOString().slice(0, 7);
    const statement = await waitFor(async () => {
      const read = dataOf<any>(await as(partners.A, STATEMENT, { m: month })).partnerStatement;
      return read.lines.length > 0 ? read : undefined;
    }, { what: 'the partner billed', timeoutMs: 15_000 });
    assert.equal(statement.partnerId, partners.A.id);
    assert.equal(statement.trips, 1);
    assert.deepEqual(statement.lines.map((line: any) => [line.tripId, line.kind, line.amount.amount]), [[booked.id, 'FARE', estimate.fare.amount]]);
    assert.equal(statement.account.outstanding.amount, estimate.fare.amount);
    assert.equal(statement.account.held.amount, '0.00');
    // An admin reads it too; B may not read A's.
    assert.equal(dataOf<any>(await as(admin, STATEMENT, { m: month, p: partners.A.id })).partnerStatement.total.amount, estimate.fare.amount);
    assertErrorCode(await as(partners.B, STATEMENT, { m: month, p: partners.A.id }), 'FORBIDDEN');

    const transfers = await waitFor(async () => {
      const all = await ledger.transfersByReferences([booked.id]);
      return all.some((transfer) => transfer.code === 'COMMISSION') && all.some((transfer) => transfer.code === 'DRIVER_EARNINGS') ? all : undefined;
    }, { what: 'the driver and platform paid' });
    assert.ok(transfers.some((transfer) => transfer.kind === 'POST_PENDING' && transfer.debitAccount.kind === 'PARTNER' && transfer.debitAccount.ownerId === partners.A.id));
    const check = await ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  });

  it('keeps organisations apart on HTTP and graphql-ws, both ways; the same key books the same trip', async () => {
    const pickup = freshArea();
    const a = await quote(partners.A, pickup);
    const b = await quote(partners.B, offset(pickup, 100));
    const key = newKey();
    const guest = { phone: guestPhone(), name: 'Guest A' };
    const tripA = dataOf<any>(await book(partners.A, a.id, key, guest)).bookRideForGuest;
    const again = dataOf<any>(await book(partners.A, a.id, key, guest)).bookRideForGuest;
    assert.equal(again.id, tripA.id);
    assert.equal((await tripRows(`"partner_id" = ? and "idempotency_key" = ?`, [partners.A.id, key])).length, 1);
    const tripB = dataOf<any>(await book(partners.B, b.id)).bookRideForGuest;

    for (const [own, other, otherTrip] of [[partners.A, partners.B, tripB], [partners.B, partners.A, tripA]] as const) {
      const listed = dataOf<any>(await as(own, PARTNER_TRIPS)).partnerTrips.edges.map((edge: any) => edge.node.id);
      assert.ok(!listed.includes(otherTrip.id));
      assert.equal(dataOf<any>(await as(own, TRIP_BY_ID, { id: otherTrip.id })).trip, null);
      assertErrorCode(await as(own, CANCEL, { id: otherTrip.id }), 'FORBIDDEN');
      const foreign = rides.subscribe(own, UPDATES, { id: otherTrip.id });
      const refused = await nextEvent(foreign).catch((error) => ({ errors: [error] }));
      assert.ok(JSON.stringify(refused).includes('FORBIDDEN') || (refused as any).errors, 'a foreign trip is refused on graphql-ws');
      assert.ok(!(refused as any).data?.tripUpdates, `${other.id}'s trip leaked over graphql-ws`);
    }
    const mine = dataOf<any>(await as(partners.A, PARTNER_TRIPS, { status: 'REQUESTED' })).partnerTrips.edges.map((edge: any) => edge.node.id);
    assert.ok(mine.includes(tripA.id) || (await tripRows(`"id" = ?`, [tripA.id]))[0]!.status !== 'REQUESTED');

    // The partner cancels its own booking (no driver yet: no fee, the hold released).
    const cancelled = dataOf<any>(await as(partners.A, CANCEL, { id: tripA.id })).cancelPartnerTrip;
    assert.deepEqual([cancelled.status, cancelled.cancellation.by, cancelled.cancellation.fee.amount], ['CANCELLED', 'PARTNER', '0.00']);
    dataOf(await as(partners.B, CANCEL, { id: tripB.id }));
    await waitFor(async () => ((await ledger.transfersByReferences([tripA.id])).some((transfer) => transfer.kind === 'VOID_PENDING') ? true : undefined), { what: 'the hold voided' });
    const check = await ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  });

  it('refuses a booking over the credit limit, and a bad guest, with nothing written or dispatched', async () => {
    const poor = await partnerToken();
    dataOf(await as(admin, SET_LIMIT, { p: poor.id, a: { amount: '1.00', currency: 'EGP' } }));
    const pickup = freshArea();
    const estimate = await quote(poor, pickup);
    const phone = guestPhone();
    const over = await book(poor, estimate.id, newKey(), { phone, name: 'Guest' });
    assertErrorCode(over, 'CREDIT_LIMIT_EXCEEDED');
    assert.equal((await tripRows(`"partner_id" = ?`, [poor.id])).length, 0);
    const guests = await stack.subgraph('accounts').db.fork().getConnection().execute(`select 1 from "accounts"."users" where "phone" = ?`, [phone], 'all');
    assert.equal(guests.length, 0, 'no guest created for a refused booking');
    const account = await ledger.findAccount('PARTNER', poor.id);
    assert.equal(account!.debitsPending, 0n);

    for (const guest of [{ phone: '0100 123', name: 'Guest' }, { phone: guestPhone(), name: '' }, { phone: guestPhone(), name: 'x'.repeat(101) }]) {
      assertErrorCode(await book(partners.A, (await quote(partners.A, pickup)).id, newKey(), guest), 'BAD_USER_INPUT');
    }
    // A rider may not pay PARTNER, and may not book for guests.
    const rider = await stack.signUp('RIDER');
    assertErrorCode(await as(rider, BOOK, { input: { quoteId: estimate.id, guest: { phone: guestPhone(), name: 'G' } }, key: newKey() }), 'FORBIDDEN');
    const check = await ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  });
});
