import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Principal } from '../../platform/auth.ts';
import type { EntityManager } from '../../platform/db.ts';
import { AppError, conflict } from '../../platform/errors.ts';
import { parseInput } from '../../platform/validation.ts';
import { RefreshToken, User } from './entities.ts';
import type { PasswordHasher } from './passwords.ts';
import { signAccessToken, type SigningKey } from './signing-key.ts';
import { isDemoPassword, passwordSchema, phoneSchema, signUpInputSchemaFor } from './validation.ts';

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  user: User;
}

export interface AccountsServiceOptions {
  hasher: PasswordHasher;
  signingKey: SigningKey;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /**
   * Whether the published demo password may sign up and log in: development and tests only
   * (`!config.production`). Default false: it signs nobody up and logs nobody in (validation.ts).
   */
  acceptDemoPassword?: boolean;
}

/** Creates a user of any role; ADMIN and PARTNER only come here from operator commands (bin/create-admin.ts). */
export async function createUser(em: EntityManager, hasher: PasswordHasher, input: { phone: string; password: string; name: string; role: User['role'] }): Promise<User> {
  const { password, ...rest } = input;
  return insertUser(em, { ...rest, passwordHash: await hasher.hash(password) });
}

async function insertUser(em: EntityManager, input: { phone: string; name: string; role: User['role']; passwordHash: string }): Promise<User> {
  const user = em.create(User, { id: randomUUID(), ...input });
  try {
    await em.flush();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw conflict('This phone number is already registered.', { field: 'phone' });
    throw error;
  }
  return user;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Identity: sign-up, log-in, and the refresh-token families with rotation and reuse detection. */
export class AccountsService {
  readonly #options: AccountsServiceOptions;

  constructor(options: AccountsServiceOptions) {
    this.#options = options;
  }

  async signUp(em: EntityManager, input: unknown): Promise<Session> {
    const { phone, password, name, role } = parseInput(signUpInputSchemaFor(this.#options), input);
    if (await em.count(User, { phone })) throw conflict('This phone number is already registered.', { field: 'phone' });
    const passwordHash = await this.#options.hasher.hash(password);
    return em.transactional(async (tx) => this.#startSession(tx, await insertUser(tx, { phone, name, role, passwordHash })));
  }

  /**
   * Same error, and the same hashing work, for an unknown phone and for a wrong password. Unless
   * accepted (development), the demo password is a wrong password whatever the stored hash says (a
   * database seeded in development and later run in production).
   */
  async logIn(em: EntityManager, phoneInput: string, password: string): Promise<Session> {
    const phone = phoneSchema.safeParse(phoneInput);
    const validPassword = passwordSchema.safeParse(password).success && (this.#options.acceptDemoPassword === true || !isDemoPassword(password));
    const user = phone.success ? await em.findOne(User, { phone: phone.data }) : null;
    const ok = user && validPassword ? await this.#options.hasher.verify(password, user.passwordHash) : await this.#options.hasher.verifyAgainstNobody(password);
    if (!ok || !user) throw new AppError('INVALID_CREDENTIALS');
    return this.#startSession(em, user);
  }

  /**
   * Rotates a refresh token. The rotation is one conditional UPDATE, so of two concurrent refreshes
   * with the same token exactly one wins; presenting an already rotated (or revoked) token is reuse:
   * the whole family is revoked.
   */
  async refresh(em: EntityManager, refreshToken: string): Promise<Session> {
    const current = await em.findOne(RefreshToken, { tokenHash: hashToken(refreshToken) });
    if (!current) throw new AppError('INVALID_REFRESH_TOKEN');
    const now = new Date();
    // A revocation racing a rotation can miss the token that rotation inserts; any revoked row revokes the family.
    const familyRevoked = current.revokedAt !== null || (await em.count(RefreshToken, { familyId: current.familyId, revokedAt: { $ne: null } })) > 0;
    if (familyRevoked) throw new AppError('INVALID_REFRESH_TOKEN', 'The session has been revoked.', { reason: 'SESSION_REVOKED' });
    if (current.rotatedAt) {
      await this.#revokeFamily(em, current.familyId, now);
      throw new AppError('INVALID_REFRESH_TOKEN', 'The refresh token was already used; the session has been revoked.', { reason: 'REFRESH_TOKEN_REUSED' });
    }
    if (current.expiresAt <= now) throw new AppError('INVALID_REFRESH_TOKEN');
    const session = await em.transactional(async (tx) => {
      const rotated = await tx.nativeUpdate(RefreshToken, { id: current.id, rotatedAt: null, revokedAt: null }, { rotatedAt: now });
      if (rotated !== 1) return null;
      const user = await tx.findOneOrFail(User, { id: current.userId });
      return this.#startSession(tx, user, current.familyId);
    });
    if (!session) {
      await this.#revokeFamily(em, current.familyId, now);
      throw new AppError('INVALID_REFRESH_TOKEN', 'The refresh token was already used; the session has been revoked.', { reason: 'REFRESH_TOKEN_REUSED' });
    }
    return session;
  }

  async logOut(em: EntityManager, refreshToken: string): Promise<true> {
    const current = await em.findOne(RefreshToken, { tokenHash: hashToken(refreshToken) });
    if (current) await this.#revokeFamily(em, current.familyId, new Date());
    return true;
  }

  async issueAccessToken(principal: Principal) {
    const { signingKey, issuer, audience, accessTokenTtlSeconds } = this.#options;
    return signAccessToken(signingKey, principal, { issuer, audience, ttlSeconds: accessTokenTtlSeconds });
  }

  async #startSession(em: EntityManager, user: User, familyId: string = randomUUID()): Promise<Session> {
    const refreshToken = randomBytes(32).toString('base64url');
    em.create(RefreshToken, {
      id: randomUUID(),
      userId: user.id,
      familyId,
      tokenHash: hashToken(refreshToken),
      expiresAt: new Date(Date.now() + this.#options.refreshTokenTtlSeconds * 1000),
    });
    await em.flush();
    const access = await this.issueAccessToken({ userId: user.id, role: user.role });
    return { accessToken: access.token, refreshToken, expiresAt: access.expiresAt, user };
  }

  async #revokeFamily(em: EntityManager, familyId: string, at: Date) {
    await em.nativeUpdate(RefreshToken, { familyId, revokedAt: null }, { revokedAt: at });
  }
}
