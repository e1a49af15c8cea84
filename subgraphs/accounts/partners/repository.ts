/**
 * Every SQL statement about partners and their API keys (parameterized). Times are passed in, never
 * read from the database's clock, so the service's clock decides (tests move it).
 */
import { arrayLiteral, executeStatement, type EntityManager } from '../../../platform/db.ts';

const PARTNERS = '"accounts"."partners"';
const API_KEYS = '"accounts"."api_keys"';

export interface PartnerRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface ApiKeyRecord {
  id: string;
  partnerId: string;
  name: string;
  prefix: string;
  operations: string[];
  requestsPerMinute: number;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  expiresAt: Date | null;
  replacedById: string | null;
}

/** A key's row with its hash: only the exchange reads it. */
export interface StoredApiKey extends ApiKeyRecord {
  keyHash: string;
}

type Row = Record<string, unknown>;

const KEY_COLUMNS = `"id", "partner_id", "name", "prefix", "operations", "requests_per_minute", "created_at", "last_used_at", "revoked_at", "expires_at", "replaced_by_id"`;

const date = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));
const maybeDate = (value: unknown): Date | null => (value === null || value === undefined ? null : date(value));

/** PGlite and pg answer text[] as an array; a driver answering the literal is parsed too. */
function textArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string' && value.startsWith('{')) return value === '{}' ? [] : value.slice(1, -1).split(',');
  return [];
}

const toPartner = (row: Row): PartnerRecord => ({ id: String(row.id), name: String(row.name), createdAt: date(row.created_at) });

const toApiKey = (row: Row): ApiKeyRecord => ({
  id: String(row.id),
  partnerId: String(row.partner_id),
  name: String(row.name),
  prefix: String(row.prefix),
  operations: textArray(row.operations),
  requestsPerMinute: Number(row.requests_per_minute),
  createdAt: date(row.created_at),
  lastUsedAt: maybeDate(row.last_used_at),
  revokedAt: maybeDate(row.revoked_at),
  expiresAt: maybeDate(row.expires_at),
  replacedById: row.replaced_by_id === null || row.replaced_by_id === undefined ? null : String(row.replaced_by_id),
});

export interface NewApiKey {
  id: string;
  partnerId: string;
  name: string;
  prefix: string;
  keyHash: string;
  operations: readonly string[];
  requestsPerMinute: number;
  createdBy: string | null;
  createdAt: Date;
}

export class PartnersRepository {
  async insertPartner(em: EntityManager, partner: { id: string; name: string; createdBy: string | null; createdAt: Date }): Promise<PartnerRecord> {
    const [row] = await executeStatement<Row>(em, `insert into ${PARTNERS} ("id", "name", "created_by", "created_at") values (?, ?, ?, ?) returning "id", "name", "created_at"`, [
      partner.id,
      partner.name,
      partner.createdBy,
      partner.createdAt,
    ]);
    return toPartner(row);
  }

  async partners(em: EntityManager): Promise<PartnerRecord[]> {
    return (await executeStatement<Row>(em, `select "id", "name", "created_at" from ${PARTNERS} order by "created_at", "id" limit 1000`)).map(toPartner);
  }

  async partner(em: EntityManager, id: string): Promise<PartnerRecord | null> {
    const [row] = await executeStatement<Row>(em, `select "id", "name", "created_at" from ${PARTNERS} where "id" = ?`, [id]);
    return row ? toPartner(row) : null;
  }

  /** The keys of these partners, newest first (one statement for a page of partners). */
  async keysOfPartners(em: EntityManager, partnerIds: readonly string[]): Promise<ApiKeyRecord[]> {
    if (partnerIds.length === 0) return [];
    const rows = await executeStatement<Row>(em, `select ${KEY_COLUMNS} from ${API_KEYS} where "partner_id" = any(?::uuid[]) order by "created_at" desc, "id"`, [arrayLiteral(partnerIds)]);
    return rows.map(toApiKey);
  }

  async insertKey(em: EntityManager, key: NewApiKey): Promise<ApiKeyRecord> {
    const [row] = await executeStatement<Row>(
      em,
      `insert into ${API_KEYS} ("id", "partner_id", "name", "prefix", "key_hash", "operations", "requests_per_minute", "created_by", "created_at")
       values (?, ?, ?, ?, ?, ?::text[], ?, ?, ?) returning ${KEY_COLUMNS}`,
      [key.id, key.partnerId, key.name, key.prefix, key.keyHash, arrayLiteral(key.operations), key.requestsPerMinute, key.createdBy, key.createdAt],
    );
    return toApiKey(row);
  }

  async key(em: EntityManager, id: string, options: { forUpdate?: boolean } = {}): Promise<ApiKeyRecord | null> {
    const [row] = await executeStatement<Row>(em, `select ${KEY_COLUMNS} from ${API_KEYS} where "id" = ?${options.forUpdate ? ' for update' : ''}`, [id]);
    return row ? toApiKey(row) : null;
  }

  async keyByPrefix(em: EntityManager, prefix: string): Promise<StoredApiKey | null> {
    const [row] = await executeStatement<Row>(em, `select ${KEY_COLUMNS}, "key_hash" from ${API_KEYS} where "prefix" = ?`, [prefix]);
    return row ? { ...toApiKey(row), keyHash: String(row.key_hash) } : null;
  }

  /** Revokes the key unless it already is; answers the key as it now is (null: no such key). */
  async revokeKey(em: EntityManager, id: string, at: Date): Promise<ApiKeyRecord | null> {
    await executeStatement(em, `update ${API_KEYS} set "revoked_at" = ? where "id" = ? and "revoked_at" is null`, [at, id]);
    return this.key(em, id);
  }

  /** The rotated key ends at `expiresAt` (or earlier, if it already ended earlier) and names its replacement. */
  async markRotated(em: EntityManager, id: string, replacedById: string, expiresAt: Date): Promise<void> {
    await executeStatement(em, `update ${API_KEYS} set "replaced_by_id" = ?, "expires_at" = least(coalesce("expires_at", ?), ?) where "id" = ?`, [replacedById, expiresAt, expiresAt, id]);
  }

  /** Records a use, at most once per `throttleMs`: a key in steady use writes once a minute, not per request. */
  async touchKey(em: EntityManager, id: string, at: Date, throttleMs: number): Promise<void> {
    await executeStatement(em, `update ${API_KEYS} set "last_used_at" = ? where "id" = ? and ("last_used_at" is null or "last_used_at" < ?)`, [at, id, new Date(at.getTime() - throttleMs)]);
  }
}
