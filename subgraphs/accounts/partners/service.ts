/**
 * Partner organisations and their API keys: creation, revocation, rotation with an overlap, and the
 * router's exchange of a key for a short-lived PARTNER access token. Plain code: the resolvers call it,
 * and tests call it with their own clock.
 */
import { randomUUID } from 'node:crypto';
import { apiKeyMatches, generateApiKey, hashApiKey, parseApiKey } from '../../../platform/api-keys.ts';
import type { Principal } from '../../../platform/auth.ts';
import type { EntityManager } from '../../../platform/db.ts';
import { AppError, conflict, notFound } from '../../../platform/errors.ts';
import { parseInput } from '../../../platform/validation.ts';
import { signAccessToken, type SigningKey } from '../signing-key.ts';
import { PartnersRepository, type ApiKeyRecord, type PartnerRecord } from './repository.ts';
import { apiKeyIdArgsSchema, createApiKeyArgsSchema, createPartnerInputSchema, rotateApiKeyArgsSchema } from './validation.ts';

/** The longest a grant (and its access token) lives: the router re-exchanges the key after this. */
export const GRANT_TTL_SECONDS = 300;
/** lastUsedAt is written at most this often per key. */
export const LAST_USED_THROTTLE_MS = 60_000;

export interface PartnersServiceOptions {
  signingKey: SigningKey;
  issuer: string;
  audience: string;
  /** The clock (ms); tests move it. */
  now?: () => number;
  repository?: PartnersRepository;
}

export interface CreatedApiKey {
  apiKey: ApiKeyRecord;
  /** The key itself: returned once, never stored. */
  key: string;
}

export interface ApiKeyGrant {
  accessToken: string;
  expiresAt: Date;
  keyId: string;
  partnerId: string;
  operations: string[];
  requestsPerMinute: number;
}

/** One answer for every key that does not work: unknown, malformed, revoked, ended by rotation, wrong secret. */
const invalidKey = () => new AppError('UNAUTHENTICATED', 'The API key is not valid.');

/** Hashed and compared when no row matched the prefix, so an unknown prefix costs what a wrong secret costs. */
const NOBODY_HASH = hashApiKey(generateApiKey().key);

export class PartnersService {
  readonly #options: PartnersServiceOptions;
  readonly #repository: PartnersRepository;
  readonly #now: () => number;

  constructor(options: PartnersServiceOptions) {
    this.#options = options;
    this.#repository = options.repository ?? new PartnersRepository();
    this.#now = options.now ?? Date.now;
  }

  get repository(): PartnersRepository {
    return this.#repository;
  }

  createPartner(em: EntityManager, principal: Principal | undefined, input: unknown): Promise<PartnerRecord> {
    const { name } = parseInput(createPartnerInputSchema, input);
    return this.#repository.insertPartner(em, { id: randomUUID(), name, createdBy: createdBy(principal), createdAt: new Date(this.#now()) });
  }

  partners(em: EntityManager): Promise<PartnerRecord[]> {
    return this.#repository.partners(em);
  }

  partner(em: EntityManager, args: unknown): Promise<PartnerRecord | null> {
    const { id } = parseInput(apiKeyIdArgsSchema, args);
    return this.#repository.partner(em, id);
  }

  async createApiKey(em: EntityManager, principal: Principal | undefined, args: unknown): Promise<CreatedApiKey> {
    const { partnerId, input } = parseInput(createApiKeyArgsSchema, args);
    if (!(await this.#repository.partner(em, partnerId))) throw notFound('The partner');
    return this.#insertKey(em, { partnerId, name: input.name, operations: input.operations, requestsPerMinute: input.requestsPerMinute }, principal);
  }

  async revokeApiKey(em: EntityManager, args: unknown): Promise<ApiKeyRecord> {
    const { id } = parseInput(apiKeyIdArgsSchema, args);
    const revoked = await this.#repository.revokeKey(em, id, new Date(this.#now()));
    if (!revoked) throw notFound('The API key');
    return revoked;
  }

  /**
   * A new key with the old one's partner, name, operations and budget; the old key ends `overlapSeconds`
   * from now (or earlier, when it already ends earlier). One transaction with the old key's row locked, so
   * two rotations of one key cannot both succeed. A revoked, ended or already rotated key is CONFLICT.
   */
  async rotateApiKey(em: EntityManager, principal: Principal | undefined, args: unknown): Promise<CreatedApiKey> {
    const { id, overlapSeconds } = parseInput(rotateApiKeyArgsSchema, args);
    return em.transactional(async (tx) => {
      const old = await this.#repository.key(tx, id, { forUpdate: true });
      if (!old) throw notFound('The API key');
      const now = this.#now();
      if (old.revokedAt || (old.expiresAt && old.expiresAt.getTime() <= now)) throw conflict('The API key is revoked or has ended.', { reason: 'API_KEY_ENDED' });
      if (old.replacedById) throw conflict('The API key was already rotated; rotate its replacement.', { reason: 'API_KEY_ROTATED', replacedById: old.replacedById });
      const created = await this.#insertKey(tx, old, principal);
      await this.#repository.markRotated(tx, old.id, created.apiKey.id, new Date(now + overlapSeconds * 1000));
      return created;
    });
  }

  /**
   * The router's exchange: the key's grant (a PARTNER access token for the partner organisation, ending
   * at the earliest of GRANT_TTL_SECONDS and the key's own end) or UNAUTHENTICATED, one message for
   * every reason. Records lastUsedAt at most once a minute.
   */
  async exchange(em: EntityManager, key: string): Promise<ApiKeyGrant> {
    const parsed = parseApiKey(key);
    const stored = parsed ? await this.#repository.keyByPrefix(em, parsed.prefix) : null;
    const matches = apiKeyMatches(typeof key === 'string' ? key : '', stored?.keyHash ?? NOBODY_HASH);
    const now = this.#now();
    if (!stored || !matches || stored.revokedAt) throw invalidKey();
    const endsAt = Math.min(now + GRANT_TTL_SECONDS * 1000, stored.expiresAt?.getTime() ?? Infinity);
    const ttlSeconds = Math.floor((endsAt - now) / 1000);
    if (ttlSeconds < 1) throw invalidKey();
    await this.#repository.touchKey(em, stored.id, new Date(now), LAST_USED_THROTTLE_MS);
    const { issuer, audience, signingKey } = this.#options;
    const access = await signAccessToken(signingKey, { userId: stored.partnerId, role: 'PARTNER' }, { issuer, audience, ttlSeconds });
    return { accessToken: access.token, expiresAt: access.expiresAt, keyId: stored.id, partnerId: stored.partnerId, operations: stored.operations, requestsPerMinute: stored.requestsPerMinute };
  }

  async #insertKey(em: EntityManager, key: Pick<ApiKeyRecord, 'partnerId' | 'name' | 'operations' | 'requestsPerMinute'>, principal: Principal | undefined): Promise<CreatedApiKey> {
    const generated = generateApiKey();
    const apiKey = await this.#repository.insertKey(em, {
      id: randomUUID(),
      partnerId: key.partnerId,
      name: key.name,
      prefix: generated.prefix,
      keyHash: hashApiKey(generated.key),
      operations: key.operations,
      requestsPerMinute: key.requestsPerMinute,
      createdBy: createdBy(principal),
      createdAt: new Date(this.#now()),
    });
    return { apiKey, key: generated.key };
  }
}

const createdBy = (principal: Principal | undefined) => (principal && principal.role !== 'SERVICE' ? principal.userId : null);
