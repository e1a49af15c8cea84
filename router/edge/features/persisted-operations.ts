/**
 * Persisted operations (safelisting). The manifests `npm run persisted` writes (schema/persisted-queries.ts:
 * Apollo's persisted query manifest format, id = SHA-256 of the body) name every operation a client may
 * send by id, two ways:
 *   - Apollo's `extensions.persistedQuery { version: 1, sha256Hash }` without `query` (what Apollo
 *     Client's persisted-query-lists link sends; GET too, through Apollo Server's APQ cache: `apqCache`)
 *   - `documentId`
 * The resolve stage (after authentication, before the request stage and parsing) finds the text and
 * sets it on the request; the HTTP edge hands the fast path and Apollo Server the body rewritten to
 * plain text, so a persisted operation is answered exactly as its text would be.
 *
 * Policy (PERSISTED_OPERATIONS):
 *   off       ids are resolved; anyone may send text
 *   partners  (default) a PARTNER may run only the partners' manifest operations its API key allows,
 *             sent by id; everyone else as `off` (the apps keep automatic persisted queries)
 *   all       every caller must send a manifest id (partners as above; others any manifest's operation)
 * Refusals: text (or an APQ registration) where an id is required → PERSISTED_QUERY_NOT_IN_LIST (400);
 * an id no manifest holds → PERSISTED_QUERY_NOT_FOUND (404); a `documentId` with text that is not its
 * body → BAD_USER_INPUT (PERSISTED_QUERY_MISMATCH). An id no manifest holds from a caller the policy leaves free is an automatic
 * persisted query: Apollo Server's cache answers it (or says PERSISTED_QUERY_NOT_FOUND itself).
 *
 * `reload()` re-reads every manifest and swaps them at once (a request sees the old or the new set,
 * never a mix); a manifest that does not read or check out keeps the previous set and is logged. With
 * `watchIntervalMs` the files are polled (fs.watchFile: survives the rename a ConfigMap update does).
 * Each load warms every operation (`warm`: the pipeline's parse and validation cache, the fast path's
 * route analysis) a few at a time, so the first partner request is not the one that pays for planning.
 */
import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Logger } from '../../../platform/logger.ts';
import type { StringCache } from '../../apq-cache.ts';
import { EdgeRefusal, type EdgeFeature, type EdgeRequest } from '../types.ts';

export type PersistedOperationsPolicy = 'off' | 'partners' | 'all';
export const PERSISTED_OPERATIONS_POLICIES: readonly PersistedOperationsPolicy[] = ['off', 'partners', 'all'];

/** Which callers a manifest's operations are for: partners' operations are the only ones a PARTNER may run. */
export type ManifestClients = 'partners' | 'apps';

export interface ManifestSource {
  readonly path: string;
  readonly clients: ManifestClients;
}

export interface PersistedOperation {
  readonly id: string;
  readonly name: string;
  readonly type: 'query' | 'mutation' | 'subscription';
  readonly body: string;
  readonly clients: ManifestClients;
}

export interface PersistedOperationsOptions {
  manifests: readonly ManifestSource[];
  policy: PersistedOperationsPolicy;
  logger: Logger;
  /** Prepares one operation before anyone sends it (the router: pipeline.warm, the fast path's analysis). */
  warm?: (operation: PersistedOperation) => void;
  /** Poll the manifest files this often and reload on change; 0 or absent: only `reload()` (SIGHUP). */
  watchIntervalMs?: number;
}

export interface PersistedOperationsFeature extends EdgeFeature {
  readonly policy: PersistedOperationsPolicy;
  /** The operation with this id, if a manifest holds it. */
  lookup(id: string): PersistedOperation | undefined;
  /** How many operations the manifests hold. */
  readonly size: number;
  /** Re-reads the manifests (true) or keeps the current ones and logs why (false); then warms them. */
  reload(): boolean;
  /** Warms every operation (after the pipeline exists; again after a supergraph reload). */
  warm(): Promise<void>;
  /** Apollo Server's APQ cache with the manifests in front: a GET (or any request Apollo Server resolves) by a manifest id finds its text. */
  apqCache(inner: StringCache): StringCache;
  /** Stops watching the files. */
  close(): void;
}

/** Where the API-key feature notes the key's grant on the connection (its `operations`: names of manifest operations). */
export const API_KEY_STATE = 'api-key';
/** Where this feature notes the persisted operation a request resolved to. */
export const PERSISTED_OPERATION_STATE = 'persisted-operations:operation';

interface Table {
  readonly byId: ReadonlyMap<string, PersistedOperation>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Reads and checks one manifest: Apollo's format, version 1, ids that are the SHA-256 of their bodies. */
export function readManifest(source: ManifestSource): PersistedOperation[] {
  const parsed = JSON.parse(readFileSync(source.path, 'utf8')) as { format?: unknown; version?: unknown; operations?: unknown };
  if (parsed.format !== 'apollo-persisted-query-manifest' || parsed.version !== 1 || !Array.isArray(parsed.operations)) {
    throw new Error(`${source.path} is not an apollo-persisted-query-manifest of version 1`);
  }
  return parsed.operations.map((raw: Record<string, unknown>, index) => {
    const { id, name, type, body } = raw;
    if (typeof id !== 'string' || typeof name !== 'string' || typeof body !== 'string' || (type !== 'query' && type !== 'mutation' && type !== 'subscription')) {
      throw new Error(`${source.path}: operation ${index} lacks an id, name, type or body`);
    }
    if (!SHA256_HEX.test(id) || createHash('sha256').update(body).digest('hex') !== id) throw new Error(`${source.path}: ${name}'s id is not the SHA-256 of its body`);
    return { id, name, type, body, clients: source.clients };
  });
}

function loadTable(manifests: readonly ManifestSource[]): Table {
  const byId = new Map<string, PersistedOperation>();
  for (const source of manifests) {
    for (const operation of readManifest(source)) {
      // The same body in two manifests (partners' and apps'): the partners' entry wins, so a partner may run it.
      const existing = byId.get(operation.id);
      if (!existing || (operation.clients === 'partners' && existing.clients !== 'partners')) byId.set(operation.id, operation);
    }
  }
  return { byId };
}

export function persistedOperationsFeature(options: PersistedOperationsOptions): PersistedOperationsFeature {
  const { policy, logger } = options;
  // At start a manifest that does not load is fatal: a router that cannot tell partners' operations apart must not serve.
  let table = loadTable(options.manifests);
  let warming: Promise<void> = Promise.resolve();

  /** Whether the policy requires this caller to send a manifest id. */
  const restricted = (request: EdgeRequest) => policy === 'all' || (policy === 'partners' && request.connection.principal?.role === 'PARTNER');

  const allowed = (request: EdgeRequest, operation: PersistedOperation): boolean => {
    if (request.connection.principal?.role !== 'PARTNER') return true;
    if (operation.clients !== 'partners') return false;
    // The API key's grant (router/edge/features/api-keys.ts, being built): until it notes one, a partner
    // may run every operation of the partners' manifest. A grant with no `operations` allows them all too.
    const grant = request.connection.state.get(API_KEY_STATE) as { operations?: Iterable<string> } | undefined;
    if (!grant?.operations) return true;
    const names = grant.operations instanceof Set ? (grant.operations as ReadonlySet<string>) : new Set(grant.operations);
    return names.has(operation.name);
  };

  const notInList = (message: string) => new EdgeRefusal('PERSISTED_QUERY_NOT_IN_LIST', message);

  async function warmAll(): Promise<void> {
    const warm = options.warm;
    if (!warm) return;
    const started = performance.now();
    const operations = [...table.byId.values()];
    let failed = 0;
    for (const operation of operations) {
      try {
        warm(operation);
      } catch (error) {
        failed += 1;
        logger.warn({ err: error, operation: operation.name }, 'persisted operation could not be warmed');
      }
      // One operation at a time between requests: warming never stalls traffic.
      await yieldToRequests();
    }
    logger.info({ operations: operations.length, failed, ms: Math.round(performance.now() - started) }, 'persisted operations warmed');
  }

  const files = options.manifests.map((source) => source.path);
  const feature: PersistedOperationsFeature = {
    name: 'persisted-operations',
    policy,
    get size() {
      return table.byId.size;
    },
    lookup: (id) => table.byId.get(id.toLowerCase()),

    resolveDocument(request) {
      const reference = request.persisted;
      const mustUseIds = restricted(request);
      if (!reference) {
        if (mustUseIds) throw notInList('Send this operation by its persisted id (extensions.persistedQuery.sha256Hash or documentId): only operations in the persisted query list are accepted.');
        return;
      }
      const operation = table.byId.get(reference.id.toLowerCase());
      if (!operation) {
        // documentId only ever names a manifest operation; a bare hash from a caller who must use ids neither.
        if (reference.protocol === 'documentId' || (mustUseIds && request.query === '')) {
          throw new EdgeRefusal('PERSISTED_QUERY_NOT_FOUND', 'No persisted operation has this id.', { extensions: { id: reference.id } });
        }
        // Text with a hash that is not in the list: an automatic persisted query, refused where ids are required.
        if (mustUseIds) throw notInList('This operation is not in the persisted query list.');
        return; // an automatic persisted query: Apollo Server's cache
      }
      if (request.query !== '' && request.query !== operation.body) {
        throw new EdgeRefusal('BAD_USER_INPUT', 'The query is not the persisted operation this id names.', { extensions: { reason: 'PERSISTED_QUERY_MISMATCH' } });
      }
      if (mustUseIds && !allowed(request, operation)) throw notInList(`Operation ${operation.name} is not in this client's persisted query list.`);
      request.query = operation.body;
      request.state.set(PERSISTED_OPERATION_STATE, operation);
    },

    reload() {
      try {
        table = loadTable(options.manifests);
      } catch (error) {
        logger.error({ err: error, files }, 'persisted query manifests not reloaded; keeping the previous ones');
        return false;
      }
      logger.info({ files, operations: table.byId.size }, 'persisted query manifests reloaded');
      void feature.warm();
      return true;
    },

    warm() {
      // Loads in a row warm one after the other, the last one's table last.
      warming = warming.then(warmAll, warmAll);
      return warming;
    },

    apqCache(inner) {
      const APQ_PREFIX = 'apq:';
      return {
        async get(key) {
          if (key.startsWith(APQ_PREFIX)) {
            const operation = table.byId.get(key.slice(APQ_PREFIX.length));
            if (operation) return operation.body;
          }
          return inner.get(key);
        },
        set: (key, value, setOptions) => inner.set(key, value, setOptions),
        delete: (key) => inner.delete(key),
      };
    },

    close() {
      for (const file of files) unwatchFile(file, onChange);
    },
  };

  function onChange(current: { mtimeMs: number }, previous: { mtimeMs: number }) {
    if (current.mtimeMs !== previous.mtimeMs) feature.reload();
  }
  if (options.watchIntervalMs && options.watchIntervalMs > 0) {
    for (const file of files) watchFile(file, { interval: options.watchIntervalMs, persistent: false }, onChange);
  }
  return feature;
}

/** PERSISTED_OPERATIONS as a policy (default `partners`); anything else is a configuration error. */
export function persistedOperationsPolicy(value: string | undefined): PersistedOperationsPolicy {
  const policy = (value ?? 'partners') as PersistedOperationsPolicy;
  if (!PERSISTED_OPERATIONS_POLICIES.includes(policy)) throw new Error(`PERSISTED_OPERATIONS must be one of ${PERSISTED_OPERATIONS_POLICIES.join(', ')} (got ${value})`);
  return policy;
}
