import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDemoCity } from '../../../platform/demo-city.ts';
import { Driver } from '../../../subgraphs/drivers/entities.ts';
import { driversSubgraph } from '../../../subgraphs/drivers/index.ts';
import { assertErrorCode, dataOf } from '../../support/client.ts';
import { startStack, type Stack, type TestUser } from '../../support/stack.ts';

const REGISTER = `mutation RegisterDriver($vehicle: VehicleInput!) {
  registerDriver(vehicle: $vehicle) { id approvalStatus approvedAt createdAt vehicle { type make model color plate year } user { id name } }
}`;
const APPROVE = `mutation ApproveDriver($driverId: ID!) { approveDriver(driverId: $driverId) { id approvalStatus approvedAt user { id name } } }`;
const PENDING = `query PendingDrivers($first: Int, $after: String) {
  pendingDrivers(first: $first, after: $after) { edges { cursor node { id createdAt } } pageInfo { hasNextPage endCursor } }
}`;

let plateSequence = 0;
/** A valid vehicle with a plate no other test uses. */
function vehicle(overrides: Record<string, unknown> = {}) {
  plateSequence += 1;
  return { type: 'ECONOMY', make: 'Hyundai', model: 'Accent', color: 'White', plate: `TST ${process.pid % 10_000}-${plateSequence}`, year: 2020, ...overrides };
}

describe('drivers subgraph', () => {
  let stack: Stack;
  let admin: TestUser;
  const driverRows = (where: Record<string, unknown> = {}) => stack.subgraph('drivers').db.fork().count(Driver, where);

  async function registered(user?: TestUser, overrides: Record<string, unknown> = {}) {
    const driver = user ?? (await stack.signUp('DRIVER'));
    const result = await stack.query(REGISTER, { vehicle: vehicle(overrides) }, { token: driver.accessToken });
    return { user: driver, profile: dataOf(result).registerDriver };
  }

  before(async () => {
    stack = await startStack({ subgraphs: ['drivers'] });
    admin = await stack.admin();
  });
  after(() => stack.stop());

  describe('registration and approval', () => {
    it('registers a driver as PENDING and shows them approved once an admin approves', async () => {
      const user = await stack.signUp('DRIVER', 'Karim Driver');
      const result = await stack.query(REGISTER, { vehicle: vehicle({ type: 'COMFORT', make: ' Toyota ', plate: ' cai   77 x ', year: 2021 }) }, { token: user.accessToken });
      const profile = dataOf(result).registerDriver;
      assert.equal(profile.approvalStatus, 'PENDING');
      assert.equal(profile.approvedAt, null);
      assert.deepEqual(profile.vehicle, { type: 'COMFORT', make: 'Toyota', model: 'Accent', color: 'White', plate: 'CAI 77 X', year: 2021 });
      assert.deepEqual(profile.user, { id: user.id, name: 'Karim Driver' });

      const approved = dataOf(await stack.query(APPROVE, { driverId: profile.id }, { token: admin.accessToken })).approveDriver;
      assert.equal(approved.approvalStatus, 'APPROVED');
      assert.ok(Date.now() - Date.parse(approved.approvedAt) < 60_000);
      const stored = await stack.subgraph('drivers').db.fork().findOneOrFail(Driver, { id: profile.id });
      assert.equal(stored.approvedBy, admin.id);

      const own = await stack.query(`query($id: ID!) { driver(id: $id) { approvalStatus } }`, { id: profile.id }, { token: user.accessToken });
      assert.equal(dataOf(own).driver.approvalStatus, 'APPROVED');
    });

    it('links the accounts user to their driver profile', async () => {
      const { user, profile } = await registered();
      const me = dataOf(await stack.query(`{ me { id driverProfile { id vehicle { plate } } } }`, {}, { token: user.accessToken })).me;
      assert.equal(me.driverProfile.id, profile.id);
      const rider = await stack.signUp('RIDER');
      assert.equal(dataOf(await stack.query(`{ me { driverProfile { id } } }`, {}, { token: rider.accessToken })).me.driverProfile, null);
    });

    it('forbids a rider from registering as a driver', async () => {
      const rider = await stack.signUp('RIDER');
      assertErrorCode(await stack.query(REGISTER, { vehicle: vehicle() }, { token: rider.accessToken }), 'FORBIDDEN');
      assert.equal(await driverRows({ userId: rider.id }), 0);
    });

    it('asks an anonymous caller to authenticate', async () => {
      assertErrorCode(await stack.query(REGISTER, { vehicle: vehicle() }), 'UNAUTHENTICATED');
    });

    it('answers a second registration by the same driver with CONFLICT and keeps one profile', async () => {
      const { user } = await registered();
      const result = await stack.query(REGISTER, { vehicle: vehicle() }, { token: user.accessToken });
      assertErrorCode(result, 'CONFLICT');
      assert.equal(result.body.errors![0].extensions!.field, 'user');
      assert.equal(await driverRows({ userId: user.id }), 1);
    });

    it('answers a plate registered to another driver with CONFLICT, whatever its case and spacing', async () => {
      const { profile } = await registered(undefined, { plate: 'dup 4242' });
      assert.equal(profile.vehicle.plate, 'DUP 4242');
      const other = await stack.signUp('DRIVER');
      const result = await stack.query(REGISTER, { vehicle: vehicle({ plate: '  Dup   4242' }) }, { token: other.accessToken });
      assertErrorCode(result, 'CONFLICT');
      assert.equal(result.body.errors![0].extensions!.field, 'vehicle.plate');
      assert.equal(await driverRows({ userId: other.id }), 0);
    });

    const invalidVehicles: Array<[string, Record<string, unknown>, string]> = [
      ['an empty make', { make: '   ' }, 'make'],
      ['a model longer than 40 characters', { model: 'M'.repeat(41) }, 'model'],
      ['an empty color', { color: '' }, 'color'],
      ['a one-character plate', { plate: ' a ' }, 'plate'],
      ['a plate longer than 15 characters', { plate: 'ABCDEFGH 1234567' }, 'plate'],
      ['a plate with other characters', { plate: 'CAI#1000' }, 'plate'],
      ['a model year before 1990', { year: 1989 }, 'year'],
      ['a model year after next year', { year: new Date().getUTCFullYear() + 2 }, 'year'],
    ];
    for (const [what, overrides, field] of invalidVehicles) {
      it(`rejects ${what} with BAD_USER_INPUT and writes nothing`, async () => {
        const user = await stack.signUp('DRIVER');
        const before = await driverRows();
        const result = await stack.query(REGISTER, { vehicle: vehicle(overrides) }, { token: user.accessToken });
        assertErrorCode(result, 'BAD_USER_INPUT');
        assert.ok(result.body.errors![0].extensions!.fields[field], `names the field ${field}: ${JSON.stringify(result.body.errors)}`);
        assert.equal(await driverRows(), before);
      });
    }

    it('accepts next year as a model year', async () => {
      const { profile } = await registered(undefined, { year: new Date().getUTCFullYear() + 1 });
      assert.equal(profile.vehicle.year, new Date().getUTCFullYear() + 1);
    });

    it('forbids anyone but an admin from approving a driver', async () => {
      const { user, profile } = await registered();
      const rider = await stack.signUp('RIDER');
      for (const caller of [user, rider]) assertErrorCode(await stack.query(APPROVE, { driverId: profile.id }, { token: caller.accessToken }), 'FORBIDDEN');
      assert.equal(await driverRows({ id: profile.id, approvalStatus: 'PENDING' }), 1);
    });

    it('answers approving an unknown driver with NOT_FOUND', async () => {
      for (const driverId of ['00000000-0000-4000-8000-000000000000', 'not-an-id']) {
        assertErrorCode(await stack.query(APPROVE, { driverId }, { token: admin.accessToken }), 'NOT_FOUND');
      }
    });

    it('answers approving an already approved driver with CONFLICT', async () => {
      const { profile } = await registered();
      dataOf(await stack.query(APPROVE, { driverId: profile.id }, { token: admin.accessToken }));
      assertErrorCode(await stack.query(APPROVE, { driverId: profile.id }, { token: admin.accessToken }), 'CONFLICT');
    });

    it('creates exactly one profile when ten drivers register the same plate at once', async () => {
      const drivers = await Promise.all(Array.from({ length: 10 }, () => stack.signUp('DRIVER')));
      const plate = `RACE ${process.pid % 10_000}`;
      const results = await Promise.all(drivers.map((driver) => stack.query(REGISTER, { vehicle: vehicle({ plate }) }, { token: driver.accessToken })));
      const winners = results.filter((result) => result.body.data?.registerDriver);
      assert.equal(winners.length, 1);
      for (const result of results.filter((r) => !r.body.data?.registerDriver)) {
        assertErrorCode(result, 'CONFLICT');
        assert.equal(result.body.errors![0].extensions!.field, 'vehicle.plate', 'the loser learns the plate is taken');
      }
      assert.equal(await driverRows({ vehiclePlate: plate }), 1);
    });

    it('creates exactly one profile when one driver registers several cars at once', async () => {
      const user = await stack.signUp('DRIVER');
      const results = await Promise.all(Array.from({ length: 5 }, () => stack.query(REGISTER, { vehicle: vehicle() }, { token: user.accessToken })));
      assert.equal(results.filter((result) => result.body.data?.registerDriver).length, 1);
      for (const result of results.filter((r) => !r.body.data?.registerDriver)) {
        assertErrorCode(result, 'CONFLICT');
        assert.equal(result.body.errors![0].extensions!.field, 'user');
      }
      assert.equal(await driverRows({ userId: user.id }), 1);
    });
  });

  describe('reading drivers', () => {
    it("shows a rider the driver's car and name, but not the approval status", async () => {
      const { user, profile } = await registered(undefined, { plate: 'VIEW 1' });
      const rider = await stack.signUp('RIDER');
      const publicProfile = await stack.query(`query($id: ID!) { driver(id: $id) { id rating vehicle { plate make } user { name } } }`, { id: profile.id }, { token: rider.accessToken });
      assert.deepEqual(dataOf(publicProfile).driver, { id: profile.id, rating: null, vehicle: { plate: 'VIEW 1', make: 'Hyundai' }, user: { name: user.name } });
      for (const field of ['approvalStatus', 'approvedAt', 'createdAt']) {
        assertErrorCode(await stack.query(`query($id: ID!) { driver(id: $id) { id ${field} } }`, { id: profile.id }, { token: rider.accessToken }), 'FORBIDDEN');
      }
    });

    it('shows the rating as an exact two-decimal string', async () => {
      const { profile } = await registered();
      await stack.subgraph('drivers').db.fork().nativeUpdate(Driver, { id: profile.id }, { rating: '4.5' });
      const rider = await stack.signUp('RIDER');
      assert.equal(dataOf(await stack.query(`query($id: ID!) { driver(id: $id) { rating } }`, { id: profile.id }, { token: rider.accessToken })).driver.rating, '4.50');
    });

    it('hides the approval status from other drivers too', async () => {
      const { profile } = await registered();
      const other = await stack.signUp('DRIVER');
      assertErrorCode(await stack.query(`query($id: ID!) { driver(id: $id) { approvalStatus } }`, { id: profile.id }, { token: other.accessToken }), 'FORBIDDEN');
    });

    it('answers an unknown driver with null', async () => {
      const rider = await stack.signUp('RIDER');
      for (const id of ['00000000-0000-4000-8000-000000000000', 'nope']) {
        assert.equal(dataOf(await stack.query(`query($id: ID!) { driver(id: $id) { id } }`, { id }, { token: rider.accessToken })).driver, null);
      }
    });

    it('asks an anonymous caller to authenticate before reading a driver', async () => {
      const { profile } = await registered();
      assertErrorCode(await stack.query(`query($id: ID!) { driver(id: $id) { id } }`, { id: profile.id }), 'UNAUTHENTICATED');
    });

    it('resolves many driver references in one SQL statement', async () => {
      const profiles = await Promise.all(Array.from({ length: 5 }, () => registered()));
      const representations = profiles.map(({ profile }) => ({ __typename: 'Driver', id: profile.id }));
      const rider = await stack.signUp('RIDER');
      stack.resetStatementCount();
      const result = await stack.querySubgraph('drivers', `query($r: [_Any!]!) { _entities(representations: $r) { ... on Driver { id vehicle { plate } } } }`, { r: representations }, { token: rider.accessToken });
      assert.deepEqual(dataOf(result)._entities.map((d: { id: string }) => d.id), profiles.map(({ profile }) => profile.id));
      assert.equal(stack.statementCount(), 1);
    });

    it('resolves many users’ driver profiles in one SQL statement', async () => {
      const profiles = await Promise.all(Array.from({ length: 5 }, () => registered()));
      const representations = profiles.map(({ user }) => ({ __typename: 'User', id: user.id }));
      stack.resetStatementCount();
      const result = await stack.querySubgraph('drivers', `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { driverProfile { id } } } }`, { r: representations }, { token: admin.accessToken });
      assert.deepEqual(dataOf(result)._entities.map((u: { driverProfile: { id: string } }) => u.driverProfile.id), profiles.map(({ profile }) => profile.id));
      assert.equal(stack.statementCount(), 1);
    });
  });

  describe('demo city', () => {
    it("seeds the demo city's drivers once, approved and at their positions", async () => {
      const city = buildDemoCity();
      const runtime = stack.subgraph('drivers').runtime;
      await driversSubgraph.seedDemo!(runtime, city);
      await driversSubgraph.seedDemo!(runtime, city);
      const rows = await stack.subgraph('drivers').db.fork().find(Driver, { id: { $in: city.drivers.map((d) => d.id) } });
      assert.equal(rows.length, city.drivers.length);
      for (const demo of city.drivers) {
        const row = rows.find((r) => r.id === demo.id)!;
        assert.deepEqual(
          [row.userId, row.approvalStatus, row.approvedAt?.getTime(), row.vehiclePlate, row.vehicleType, row.lastLat, row.lastLng],
          [demo.userId, 'APPROVED', demo.approvedAt.getTime(), demo.vehicle.plate, demo.vehicle.type, demo.position.lat, demo.position.lng],
        );
        assert.ok(row.positionAt);
      }
      const rider = await stack.signUp('RIDER');
      const seen = await stack.query(`query($id: ID!) { driver(id: $id) { vehicle { plate } } }`, { id: city.drivers[0].id }, { token: rider.accessToken });
      assert.equal(dataOf(seen).driver.vehicle.plate, city.drivers[0].vehicle.plate);
    });
  });

  describe('pending drivers', () => {
    it('lists pending drivers oldest first, page by page, without overlaps', async () => {
      const fresh: string[] = [];
      for (let i = 0; i < 5; i++) fresh.push((await registered()).profile.id);
      const seen: Array<{ id: string; createdAt: string }> = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const page: any = dataOf(await stack.query(PENDING, { first: 2, after }, { token: admin.accessToken })).pendingDrivers;
        pages += 1;
        assert.ok(page.edges.length <= 2);
        seen.push(...page.edges.map((edge: any) => edge.node));
        if (!page.pageInfo.hasNextPage) break;
        assert.equal(page.edges.length, 2);
        assert.equal(page.pageInfo.endCursor, page.edges.at(-1).cursor);
        after = page.pageInfo.endCursor;
      }
      const ids = seen.map((node) => node.id);
      assert.equal(new Set(ids).size, ids.length, 'no driver appears on two pages');
      assert.equal(ids.length, await driverRows({ approvalStatus: 'PENDING' }));
      assert.equal(pages, Math.ceil(ids.length / 2));
      const times = seen.map((node) => Date.parse(node.createdAt));
      assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');
      assert.deepEqual(ids.filter((id) => fresh.includes(id)), fresh, 'registration order');
    });

    it('leaves approved drivers off the list', async () => {
      const { profile } = await registered();
      dataOf(await stack.query(APPROVE, { driverId: profile.id }, { token: admin.accessToken }));
      const page = dataOf(await stack.query(PENDING, { first: 100 }, { token: admin.accessToken })).pendingDrivers;
      assert.ok(!page.edges.some((edge: any) => edge.node.id === profile.id));
    });

    it('shows the pending list to admins only', async () => {
      const driver = await stack.signUp('DRIVER');
      const rider = await stack.signUp('RIDER');
      for (const caller of [driver, rider]) assertErrorCode(await stack.query(PENDING, { first: 5 }, { token: caller.accessToken }), 'FORBIDDEN');
    });

    it('treats an explicit null page size as the default of 20', async () => {
      const page = dataOf(await stack.query(PENDING, { first: null }, { token: admin.accessToken })).pendingDrivers;
      assert.equal(page.edges.length, Math.min(20, await driverRows({ approvalStatus: 'PENDING' })));
    });

    it('rejects a page size over 100 and a forged cursor with BAD_USER_INPUT', async () => {
      assertErrorCode(await stack.query(PENDING, { first: 101 }, { token: admin.accessToken }), 'BAD_USER_INPUT');
      assertErrorCode(await stack.query(PENDING, { first: 5, after: 'bm90LWEtY3Vyc29y' }, { token: admin.accessToken }), 'BAD_USER_INPUT');
    });
  });
});
