import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../platform/logger.ts';
import { User } from '../../../subgraphs/accounts/entities.ts';
import { PasswordHasher } from '../../../subgraphs/accounts/passwords.ts';
import { AccountsService } from '../../../subgraphs/accounts/service.ts';
import { loadSigningKey } from '../../../subgraphs/accounts/signing-key.ts';
import { assertErrorCode, dataOf, errorCodes } from '../../support/client.ts';
import { startStack, type Stack } from '../../support/stack.ts';

const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`;
const LOG_IN = `mutation LogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { accessToken } }`;

describe('accounts subgraph', () => {
  let stack: Stack;
  const usersWithPhone = (phone: string) => stack.subgraph('accounts').db.fork().count(User, { phone });
  const userCount = () => stack.subgraph('accounts').db.fork().count(User, {});

  before(async () => {
    stack = await startStack({ subgraphs: ['accounts'] });
  });
  after(() => stack.stop());

  it('rejects a malformed phone with BAD_USER_INPUT and writes nothing', async () => {
    const before = await userCount();
    const result = await stack.query(SIGN_UP, { input: { phone: '01001234567', password: 'long-enough-pw', name: 'A', role: 'RIDER' } });
    assertErrorCode(result, 'BAD_USER_INPUT');
    assert.ok(result.body.errors![0].extensions!.fields.phone);
    assert.equal(await userCount(), before);
  });

  it('rejects a short password with BAD_USER_INPUT and writes nothing', async () => {
    const result = await stack.query(SIGN_UP, { input: { phone: '+201009990001', password: 'short', name: 'A', role: 'RIDER' } });
    assertErrorCode(result, 'BAD_USER_INPUT');
    assert.equal(await usersWithPhone('+201009990001'), 0);
  });

  it('refuses to sign anyone up as ADMIN', async () => {
    const result = await stack.query(SIGN_UP, { input: { phone: '+201009990002', password: 'long-enough-pw', name: 'A', role: 'ADMIN' } });
    assert.ok(errorCodes(result).length > 0);
    assert.equal(await usersWithPhone('+201009990002'), 0);
  });

  it('answers a duplicate phone with CONFLICT and keeps one account', async () => {
    const rider = await stack.signUp('RIDER');
    const result = await stack.query(SIGN_UP, { input: { phone: rider.phone, password: 'another-password', name: 'Copy', role: 'DRIVER' } });
    assertErrorCode(result, 'CONFLICT');
    assert.equal(await usersWithPhone(rider.phone), 1);
  });

  it('creates exactly one account when the same phone signs up concurrently', async () => {
    const phone = '+201009990003';
    const results = await Promise.all(Array.from({ length: 8 }, () => stack.query(SIGN_UP, { input: { phone, password: 'long-enough-pw', name: 'Racer', role: 'RIDER' } })));
    assert.equal(results.filter((result) => result.body.data?.signUp).length, 1);
    for (const result of results.filter((r) => !r.body.data?.signUp)) assertErrorCode(result, 'CONFLICT');
    assert.equal(await usersWithPhone(phone), 1);
  });

  it('gives a wrong password and an unknown phone the same error', async () => {
    const rider = await stack.signUp('RIDER');
    const wrongPassword = await stack.query(LOG_IN, { phone: rider.phone, password: 'not-the-password' });
    const unknownPhone = await stack.query(LOG_IN, { phone: '+201009999999', password: 'not-the-password' });
    const malformedPhone = await stack.query(LOG_IN, { phone: 'nope', password: 'x' });
    for (const result of [wrongPassword, unknownPhone, malformedPhone]) assertErrorCode(result, 'INVALID_CREDENTIALS');
    assert.equal(wrongPassword.body.errors![0].message, unknownPhone.body.errors![0].message);
    assert.equal(malformedPhone.body.errors![0].message, unknownPhone.body.errors![0].message);
  });

  it('does the same password-hashing work for an unknown phone as for a wrong password', async () => {
    class CountingHasher extends PasswordHasher {
      verifications = 0;
      override async verify(password: string, phc: string) {
        this.verifications += 1;
        return super.verify(password, phc);
      }
    }
    const config = stack.config('accounts');
    const hasher = new CountingHasher();
    const service = new AccountsService({ hasher, signingKey: await loadSigningKey(config, createLogger(config)), issuer: 'i', audience: 'a', accessTokenTtlSeconds: 900, refreshTokenTtlSeconds: 86_400 });
    const rider = await stack.signUp('RIDER');
    const em = stack.subgraph('accounts').db.fork();
    await assert.rejects(service.logIn(em, rider.phone, 'not-the-password'), { extensions: { code: 'INVALID_CREDENTIALS' } });
    const afterWrongPassword = hasher.verifications;
    await assert.rejects(service.logIn(em, '+201008888888', 'not-the-password'), { extensions: { code: 'INVALID_CREDENTIALS' } });
    assert.equal(afterWrongPassword, 1);
    assert.equal(hasher.verifications - afterWrongPassword, 1, 'an unknown phone still costs one argon2id verification');
  });

  it('shows a phone number to its owner and to admins only', async () => {
    const owner = await stack.signUp('RIDER');
    const other = await stack.signUp('RIDER');
    const admin = await stack.admin();
    const entities = `query($id: ID!) { _entities(representations: [{ __typename: "User", id: $id }]) { ... on User { name phone } } }`;
    const asOther = await stack.querySubgraph('accounts', entities, { id: owner.id }, { token: other.accessToken });
    assertErrorCode(asOther, 'FORBIDDEN');
    const nameOnly = await stack.querySubgraph('accounts', `query($id: ID!) { _entities(representations: [{ __typename: "User", id: $id }]) { ... on User { name } } }`, { id: owner.id }, { token: other.accessToken });
    assert.equal(dataOf(nameOnly)._entities[0].name, owner.name);
    const asAdmin = await stack.querySubgraph('accounts', entities, { id: owner.id }, { token: admin.accessToken });
    assert.equal(dataOf(asAdmin)._entities[0].phone, owner.phone);
  });

  it('stores passwords only as argon2id hashes', async () => {
    const rider = await stack.signUp('RIDER');
    const stored = await stack.subgraph('accounts').db.fork().findOneOrFail(User, { id: rider.id });
    assert.match(stored.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!stored.passwordHash.includes(rider.password));
  });
});
