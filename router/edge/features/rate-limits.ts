/**
 * Rate limits at the edge, on every way in (HTTP via the gateway or the fast path, graphql-ws), counted
 * with rate-limiter-flexible in Redis so every router replica shares them (RateLimiterRedis over the
 * router's ioredis client), or in the process in embedded mode (RateLimiterMemory).
 *
 *   connect    graphql-ws only: connection attempts per second per address; open connections per
 *              address and per signed-in user (taken here, given back in `disconnect`)
 *   request    the caller's budget of points per minute: per API key (hook, see `apiKeyBudget`), per
 *              signed-in user, else per client address; an operation costs 1
 *   operation  a mutation costs `mutationCost` in all; logIn (by phone and by address: lockouts, backoff,
 *              attempts per minute), signUp and refreshSession (by address)
 *   response   a failed log-in (INVALID_CREDENTIALS) counts; a successful one forgets its phone's failures
 *
 * Log-in: every attempt takes one of its phone number's (and its address's) failure slots *before* it
 * reaches accounts, so racing attempts cannot all slip through before the first failure is counted: of
 * any number of concurrent attempts for one phone, at most `failuresPerPhone` reach accounts. A failure
 * keeps its slot (and, from the 2nd consecutive failure, puts the phone behind a growing wait); the
 * failure that fills the slots locks the phone out for `lockoutSeconds`. A success frees the phone's
 * slots and waits; an attempt that ended otherwise (refused further on, an invalid phone, a fault) gives
 * its slot back. An address's failures are not forgotten on a success (one valid account must not let
 * an attacker clear them between guesses); they expire with their window. Any logIn field in an
 * operation counts (aliases cannot multiply guesses), and one INVALID_CREDENTIALS in the answer counts
 * every logIn of that operation as failed.
 *
 * Refusals are EdgeRefusal('RATE_LIMITED') with `Retry-After` and RateLimit-* headers (HTTP 429) and
 * `extensions.retryAfterSeconds`; on graphql-ws a refused subscribe is an `error` message, a refused
 * connection closes with `RATE_LIMIT_CLOSE_CODE` (1013, "try again later", which graphql-ws clients
 * retry with their backoff; 4429 is graphql-ws's own "too many initialisation requests", which its
 * clients treat as fatal).
 *
 * Redis down or slow (over `redisTimeoutMs`): each limiter falls back to counting in this process
 * (rate-limiter-flexible's insuranceLimiter) and a warning is logged: the API stays up, limits become
 * per replica until Redis is back.
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { Kind, type DocumentNode, type FieldNode, type SelectionSetNode } from 'graphql';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import type { RateLimitsConfig, ServiceConfig } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import { hashTag, redisNamespace, type Redis } from '../../../platform/redis.ts';
import { EdgeRefusal, type EdgeConnection, type EdgeFeature, type EdgeOutcome, type EdgeRequest } from '../types.ts';

/** How the graphql-ws adapter closes a connection this feature refused: 1013 Try Again Later. */
export const RATE_LIMIT_CLOSE_CODE = 1013;

/** The close code and reason (at most 123 bytes) for a connection refused with RATE_LIMITED. */
export function rateLimitClose(refusal: EdgeRefusal): { code: number; reason: string } {
  const seconds = refusal.extensions.retryAfterSeconds;
  return { code: RATE_LIMIT_CLOSE_CODE, reason: typeof seconds === 'number' ? `Rate limited: retry in ${seconds} s` : 'Rate limited' };
}

/**
 * The hook for partners' API keys (next issue): which key an operation is charged to, and its budget.
 * Returning undefined charges the caller's user (or address) as usual.
 */
export type ApiKeyBudget = (request: EdgeRequest) => { readonly keyId: string; readonly pointsPerMinute: number } | undefined;

export interface RateLimitsOptions {
  /** The router's Redis client (platform/redis.ts createRedis(config.redisUrl, logger, 'router')); undefined: count in this process. */
  redis: Redis | undefined;
  config: Pick<ServiceConfig, 'rateLimits' | 'databaseUrl' | 'dataDir'>;
  logger: Logger;
  /** Overrides the deployment's Redis namespace (redisNamespace(config)); tests use one per test. */
  namespace?: string;
  /** Charges operations to a partner's API key instead of a user or address; none yet. */
  apiKeyBudget?: ApiKeyBudget;
}

export interface RateLimitsFeature extends EdgeFeature {
  connect(connection: EdgeConnection): Promise<void>;
  disconnect(connection: EdgeConnection): void;
  /** Decides at once (returns nothing) when the budget's store can; throws or rejects with an EdgeRefusal. */
  request(request: EdgeRequest): Promise<void> | void;
  operation(request: EdgeRequest): Promise<void> | void;
  response(request: EdgeRequest, outcome: EdgeOutcome): void;
  /** Resolves once the counting started by response and disconnect (which return at once) is done. */
  settled(): Promise<void>;
  /** Operations that counted in the process because Redis failed or was slow. */
  readonly fallbacks: number;
  /** Every key prefix this feature writes under (`<prefix>:<key>` in Redis). */
  readonly keyPrefixes: readonly string[];
}

/** The root mutations with limits of their own (limitMutations). */
const LIMITED_MUTATIONS = new Set(['signUp', 'refreshSession', 'logIn']);

/** One limiter as rate-limiter-flexible sees it (store, timeout wrapper or memory). */
interface Store {
  /** Decides at once, without I/O, where the store can (PeriodicSyncStore). */
  consumeNow?(key: string, points: number): { allowed: boolean; res: RateLimiterRes };
  consume(key: string, points?: number): Promise<RateLimiterRes>;
  reward(key: string, points?: number): Promise<RateLimiterRes>;
  get(key: string): Promise<RateLimiterRes | null>;
  block(key: string, seconds: number): Promise<RateLimiterRes>;
  delete(key: string): Promise<boolean>;
}

interface Limit {
  readonly name: string;
  readonly points: number;
  readonly store: Store;
}

/** A limit's answer: allowed or not, and its numbers (none when the store failed and we fail open). */
interface Taken {
  readonly limit: Limit;
  readonly key: string;
  readonly allowed: boolean;
  readonly res: RateLimiterRes | undefined;
}

const STATE_BUDGET = 'rate-limits:budget';
const STATE_HEADERS = 'rate-limits:headers';
const STATE_LOG_IN = 'rate-limits:log-in';
const STATE_HELD = 'rate-limits:held';

interface LogInAttempt {
  readonly ip: string;
  /** The failure slot this attempt took for its address (its count at the time), if counted. */
  readonly ipSlot: number | undefined;
  readonly ipPoints: number;
  readonly phones: ReadonlyArray<{ key: string; masked: string; slot: number | undefined; points: number }>;
}

interface Held {
  ip: string | undefined;
  user: string | undefined;
}

export function rateLimitsFeature(options: RateLimitsOptions): RateLimitsFeature {
  const config: RateLimitsConfig = options.config.rateLimits;
  const { logger, redis } = options;
  const namespace = options.namespace ?? redisNamespace(options.config);
  // No hash tag here: each key is tagged by its caller (TaggedStore), so a cluster spreads the counters.
  const base = `smartline:router:${namespace}:rate`;
  const keyPrefixes: string[] = [];
  let fallbacks = 0;
  let lastWarning = -Infinity;
  const onFallback = () => {
    fallbacks += 1;
    const now = performance.now();
    if (now - lastWarning < 30_000) return;
    lastWarning = now;
    logger.warn({ fallbacks }, 'rate limits: Redis is unavailable or slow; counting in this process until it answers again (limits are per replica meanwhile)');
  };

  const pending = new Set<Promise<unknown>>();
  /** Work the caller does not wait for (response, disconnect, budget syncs): tracked for `settled`, failures logged. */
  const background = (work: Promise<unknown>) => {
    const tracked = work.catch((error) => logger.warn({ err: error }, 'rate limits: counting failed')).finally(() => pending.delete(tracked));
    pending.add(tracked);
  };

  /**
   * A limiter. `counter`: points are only ever consumed (never given back), so once a key is over its
   * limit this replica refuses it from memory until the window ends, without asking Redis again.
   */
  const limit = (name: string, points: number, duration: number, kind: 'counter' | 'held' = 'counter'): Limit => {
    const keyPrefix = `${base}:${name}`;
    keyPrefixes.push(keyPrefix);
    if (!redis) return { name, points, store: new RateLimiterMemory({ keyPrefix, points, duration }) as unknown as Store };
    const insuranceLimiter = new FallbackMemory({ keyPrefix, points, duration }, onFallback);
    const inMemoryBlockOnConsumed = kind === 'counter' ? points + 1 : undefined;
    const store = new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration, rejectIfRedisNotReady: true, insuranceLimiter, inMemoryBlockOnConsumed });
    const timed = new RLWrapperTimeouts({ limiter: store, timeoutMs: config.redisTimeoutMs, insuranceLimiter });
    return { name, points, store: new TaggedStore(timed as unknown as Store) };
  };

  /**
   * A per-minute budget: counted in this process and added to Redis every `budgetSyncPercent` of it
   * (PeriodicSyncStore), or in Redis operation by operation when that share is under 2 points.
   */
  const budget = (name: string, points: number): Limit => {
    const shared = limit(name, points, 60);
    const syncEvery = Math.floor((points * config.budgetSyncPercent) / 100);
    if (!redis || syncEvery < 2) return shared;
    return { name, points, store: new PeriodicSyncStore({ points, duration: 60 }, shared.store, syncEvery, background) };
  };

  const { logIn, ws } = config;
  const limits = {
    user: budget('user', config.userPerMinute),
    anonymous: budget('address', config.anonymousPerMinute),
    logInAttempts: limit('log-in-attempts', logIn.attemptsPerMinute, 60),
    logInPhoneFailures: limit('log-in-failures-phone', logIn.failuresPerPhone, logIn.failureWindowSeconds, 'held'),
    logInIpFailures: limit('log-in-failures-address', logIn.failuresPerIp, logIn.failureWindowSeconds, 'held'),
    /** Waits and lockouts: a key is blocked (rate-limiter-flexible's block) for as long as it must wait. */
    logInPhoneLock: limit('log-in-lock-phone', 1, 1, 'held'),
    logInIpLock: limit('log-in-lock-address', 1, 1, 'held'),
    signUp: limit('sign-up', config.signUpPerHour, 3600),
    refresh: limit('refresh', config.refreshPerMinute, 60),
    wsConnects: limit('ws-connects', ws.connectsPerSecond, 1),
    wsPerIp: limit('ws-open-address', ws.connectionsPerIp, ws.leaseSeconds, 'held'),
    wsPerUser: limit('ws-open-user', ws.connectionsPerUser, ws.leaseSeconds, 'held'),
  };
  const apiKeyLimits = new Map<number, Limit>();
  const apiKeyLimit = (pointsPerMinute: number) => {
    let found = apiKeyLimits.get(pointsPerMinute);
    if (!found) apiKeyLimits.set(pointsPerMinute, (found = budget('api-key', pointsPerMinute)));
    return found;
  };


  const take = async (target: Limit, key: string, points = 1): Promise<Taken> => {
    try {
      return { limit: target, key, allowed: true, res: await target.store.consume(key, points) };
    } catch (error) {
      if (error instanceof RateLimiterRes) return { limit: target, key, allowed: false, res: error };
      failOpen(error);
      return { limit: target, key, allowed: true, res: undefined };
    }
  };
  const failOpen = (error: unknown) => {
    onFallback();
    logger.debug({ err: error }, 'rate limits: a limiter failed; allowed');
  };
  /** Blocked keys (waits, lockouts): the milliseconds left, or 0. */
  const blockedFor = async (target: Limit, key: string): Promise<number> => {
    try {
      const res = await target.store.get(key);
      return res && res.consumedPoints > target.points ? Math.max(res.msBeforeNext, 1) : 0;
    } catch (error) {
      failOpen(error);
      return 0;
    }
  };
  /** Notes a limit's numbers; the headers show the one closest to exhaustion. */
  const note = (request: EdgeRequest, taken: Taken) => {
    const { res } = taken;
    if (!res) return;
    const shown = request.state.get(STATE_HEADERS) as RateLimiterRes | undefined;
    if (shown && shown.remainingPoints <= res.remainingPoints) return;
    request.state.set(STATE_HEADERS, res);
    request.responseHeaders['RateLimit-Limit'] = String(taken.limit.points);
    request.responseHeaders['RateLimit-Remaining'] = String(res.remainingPoints);
    request.responseHeaders['RateLimit-Reset'] = String(res.msBeforeNext > 0 ? Math.ceil(res.msBeforeNext / 1000) : 0);
  };

  const refuse = (target: Limit, msBeforeNext: number, reason: string, message: string): EdgeRefusal => {
    const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return new EdgeRefusal('RATE_LIMITED', message.replace('{s}', String(retryAfterSeconds)), {
      extensions: { reason, retryAfterSeconds },
      headers: { 'Retry-After': String(retryAfterSeconds), 'RateLimit-Limit': String(target.points), 'RateLimit-Remaining': '0', 'RateLimit-Reset': String(retryAfterSeconds) },
    });
  };
  const refused = (taken: Taken, reason: string, message: string) => refuse(taken.limit, taken.res?.msBeforeNext ?? 1000, reason, message);

  async function admitLogIn(request: EdgeRequest, fields: readonly FieldNode[]): Promise<void> {
    const ip = addressKey(request.connection.ip);
    const phones = new Map<string, { masked: string; points: number }>();
    for (const field of fields) {
      const phone = phoneOf(field, request.variables);
      if (phone === undefined) continue;
      const key = digest(phone);
      const seen = phones.get(key);
      phones.set(key, { masked: maskPhone(phone), points: (seen?.points ?? 0) + 1 });
    }
    // Locked out, or waiting after a failure: refused without counting anything.
    const waits = await Promise.all([blockedFor(limits.logInIpLock, ip), ...[...phones.keys()].map((key) => blockedFor(limits.logInPhoneLock, key))]);
    const wait = Math.max(...waits);
    if (wait > 0) throw refuse(limits.logInPhoneFailures, wait, 'LOG_IN_LOCKED', 'Too many failed log-ins; try again in {s} s.');

    const attempts = await take(limits.logInAttempts, ip, fields.length);
    note(request, attempts);
    if (!attempts.allowed) throw refused(attempts, 'LOG_IN_ATTEMPTS', 'Too many log-in attempts from this address; try again in {s} s.');

    // Each attempt takes a failure slot before it reaches accounts (see the file's comment).
    const slots = await Promise.all([take(limits.logInIpFailures, ip, fields.length), ...[...phones].map(([key, { points }]) => take(limits.logInPhoneFailures, key, points))]);
    const full = slots.find((slot) => !slot.allowed);
    if (full) {
      // Every consume counted, the refused one too: all are given back.
      for (const slot of slots) if (slot.res) background(slot.limit.store.reward(slot.key, slot === slots[0] ? fields.length : phones.get(slot.key)!.points));
      // The slots are full of attempts still running (a lockout follows at once if they fail).
      throw refuse(full.limit, 1000, 'LOG_IN_LOCKED', 'Too many log-in attempts for this account at once; try again in {s} s.');
    }
    for (const slot of slots) note(request, slot);
    const [ipSlot, ...phoneSlots] = slots;
    request.state.set(STATE_LOG_IN, {
      ip,
      ipSlot: ipSlot.res?.consumedPoints,
      ipPoints: fields.length,
      phones: [...phones].map(([key, { masked, points }], index) => ({ key, masked, points, slot: phoneSlots[index].res?.consumedPoints })),
    } satisfies LogInAttempt);
  }

  async function logInFailed(attempt: LogInAttempt, requestId: string): Promise<void> {
    const work: Promise<unknown>[] = [];
    for (const phone of attempt.phones) {
      const failures = phone.slot;
      let retryAfterSeconds = 0;
      if (failures !== undefined && failures >= logIn.failuresPerPhone) {
        retryAfterSeconds = logIn.lockoutSeconds;
        // The lock first, then the slots are freed for after it.
        work.push(limits.logInPhoneLock.store.block(phone.key, retryAfterSeconds).then(() => limits.logInPhoneFailures.store.delete(phone.key)));
        logger.warn({ requestId, phoneMasked: phone.masked, ip: attempt.ip, failures, lockedForSeconds: retryAfterSeconds }, 'log-in locked out: too many consecutive failures for this phone number');
      } else if (failures !== undefined && failures >= 2 && logIn.backoffSeconds > 0) {
        retryAfterSeconds = Math.min(logIn.backoffSeconds * 2 ** (failures - 2), logIn.lockoutSeconds);
        work.push(limits.logInPhoneLock.store.block(phone.key, retryAfterSeconds));
      }
      logger.info({ requestId, phoneMasked: phone.masked, ip: attempt.ip, failures, retryAfterSeconds }, 'log-in failed');
    }
    if (attempt.ipSlot !== undefined && attempt.ipSlot >= logIn.failuresPerIp) {
      work.push(limits.logInIpLock.store.block(attempt.ip, logIn.lockoutSeconds).then(() => limits.logInIpFailures.store.delete(attempt.ip)));
      logger.warn({ requestId, ip: attempt.ip, failures: attempt.ipSlot, lockedForSeconds: logIn.lockoutSeconds }, 'log-in locked out for this address: too many failures');
    }
    await Promise.all(work);
  }

  async function logInSucceeded(attempt: LogInAttempt): Promise<void> {
    await Promise.all([
      ...attempt.phones.flatMap((phone) => [limits.logInPhoneFailures.store.delete(phone.key), limits.logInPhoneLock.store.delete(phone.key)]),
      ...(attempt.ipSlot !== undefined ? [limits.logInIpFailures.store.reward(attempt.ip, attempt.ipPoints)] : []),
    ]);
  }

  async function logInUndecided(attempt: LogInAttempt): Promise<void> {
    await Promise.all([
      ...attempt.phones.flatMap((phone) => (phone.slot !== undefined ? [limits.logInPhoneFailures.store.reward(phone.key, phone.points)] : [])),
      ...(attempt.ipSlot !== undefined ? [limits.logInIpFailures.store.reward(attempt.ip, attempt.ipPoints)] : []),
    ]);
  }

  /**
   * Charges a budget: at once when its store decides without I/O (a budget synced periodically), so the
   * hot path allocates no promise; otherwise through `take`.
   */
  const charge = (request: EdgeRequest, target: Limit, key: string, points: number, reason: string): Promise<void> | undefined => {
    const settle = (taken: Taken) => {
      if (!taken.allowed) throw refused(taken, reason, 'Too many requests; try again in {s} s.');
      note(request, taken);
    };
    const now = target.store.consumeNow?.(key, points);
    if (now) return void settle({ limit: target, key, allowed: now.allowed, res: now.res });
    return take(target, key, points).then(settle);
  };

  /** Sign-ups, refreshes and log-ins, by address (and phone): limits of their own. */
  async function limitMutations(request: EdgeRequest, fields: readonly FieldNode[]): Promise<void> {
    const ofName = (name: string) => fields.filter((field) => field.name.value === name);
    const signUps = ofName('signUp').length;
    if (signUps > 0) {
      const taken = await take(limits.signUp, addressKey(request.connection.ip), signUps);
      if (!taken.allowed) throw refused(taken, 'SIGN_UP', 'Too many sign-ups from this address; try again in {s} s.');
      note(request, taken);
    }
    const refreshes = ofName('refreshSession').length;
    if (refreshes > 0) {
      const taken = await take(limits.refresh, addressKey(request.connection.ip), refreshes);
      if (!taken.allowed) throw refused(taken, 'REFRESH', 'Too many session refreshes from this address; try again in {s} s.');
      note(request, taken);
    }
    const logIns = ofName('logIn');
    if (logIns.length > 0) await admitLogIn(request, logIns);
  }

  const feature: RateLimitsFeature = {
    name: 'rate-limits',
    keyPrefixes,
    get fallbacks() {
      return fallbacks;
    },

    async connect(connection: EdgeConnection) {
      if (connection.transport !== 'ws') return;
      const ip = addressKey(connection.ip);
      const attempt = await take(limits.wsConnects, ip);
      if (!attempt.allowed) throw refused(attempt, 'WS_CONNECTS', 'Too many connection attempts from this address; try again in {s} s.');
      const byIp = await take(limits.wsPerIp, ip);
      if (!byIp.allowed) {
        background(limits.wsPerIp.store.reward(ip));
        throw refuse(limits.wsPerIp, 1000, 'WS_CONNECTIONS', 'Too many open connections from this address; close one or try again in {s} s.');
      }
      const userId = connection.principal?.userId;
      const byUser = userId === undefined ? undefined : await take(limits.wsPerUser, userId);
      if (byUser && !byUser.allowed) {
        if (byIp.res) background(limits.wsPerIp.store.reward(ip));
        background(limits.wsPerUser.store.reward(userId!));
        throw refuse(limits.wsPerUser, 1000, 'WS_CONNECTIONS', 'Too many open connections for this user; close one or try again in {s} s.');
      }
      connection.state.set(STATE_HELD, { ip: byIp.res ? ip : undefined, user: byUser?.res ? userId : undefined } satisfies Held);
    },

    disconnect(connection: EdgeConnection) {
      const held = connection.state.get(STATE_HELD) as Held | undefined;
      if (!held) return;
      connection.state.delete(STATE_HELD);
      if (held.ip !== undefined) background(limits.wsPerIp.store.reward(held.ip));
      if (held.user !== undefined) background(limits.wsPerUser.store.reward(held.user));
    },

    request(request: EdgeRequest) {
      const apiKey = options.apiKeyBudget?.(request);
      const userId = request.connection.principal?.userId;
      const [target, key, reason] = apiKey
        ? [apiKeyLimit(apiKey.pointsPerMinute), apiKey.keyId, 'API_KEY_BUDGET']
        : userId !== undefined
          ? [limits.user, userId, 'USER_BUDGET']
          : [limits.anonymous, addressKey(request.connection.ip), 'ADDRESS_BUDGET'];
      request.state.set(STATE_BUDGET, [target, key, reason]);
      return charge(request, target, key, 1, reason);
    },

    operation(request: EdgeRequest) {
      const operation = request.operation;
      if (!operation || operation.operation !== 'mutation') return;
      const budget = request.state.get(STATE_BUDGET) as [Limit, string, string] | undefined;
      const charged = budget && config.mutationCost > 1 ? charge(request, budget[0], budget[1], config.mutationCost - 1, budget[2]) : undefined;
      const fields = rootFields(operation.selectionSet, request.document);
      if (!fields.some((field) => LIMITED_MUTATIONS.has(field.name.value))) return charged;
      return charged ? charged.then(() => limitMutations(request, fields)) : limitMutations(request, fields);
    },

    response(request, outcome) {
      const attempt = request.state.get(STATE_LOG_IN) as LogInAttempt | undefined;
      if (!attempt) return;
      request.state.delete(STATE_LOG_IN);
      if (outcome.kind === 'answered' && outcome.errorCodes.includes('INVALID_CREDENTIALS')) background(logInFailed(attempt, request.requestId));
      else if (outcome.kind === 'answered' && outcome.errorCodes.length === 0) background(logInSucceeded(attempt));
      else background(logInUndecided(attempt));
    },

    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
  return feature;
}

/**
 * A Redis store whose keys are hash-tagged by the caller they count (`<prefix>:{<user|address|phone|key>}`):
 * on a Redis Cluster every caller's counters share a slot and callers spread over the slots. Each
 * rate-limiter-flexible call touches one key, so nothing needs two tags at once.
 */
class TaggedStore implements Store {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  consume(key: string, points?: number) {
    return this.#store.consume(hashTag(key), points);
  }

  reward(key: string, points?: number) {
    return this.#store.reward(hashTag(key), points);
  }

  get(key: string) {
    return this.#store.get(hashTag(key));
  }

  block(key: string, seconds: number) {
    return this.#store.block(hashTag(key), seconds);
  }

  delete(key: string) {
    return this.#store.delete(hashTag(key));
  }
}

/**
 * A budget counted in the process and added to the shared (Redis) count every `syncEvery` points: the
 * "consume with periodic sync" pattern of rate-limiter-flexible's wiki, written out here because the
 * library does not ship it. Why: the budget is the one limit every operation passes, and its Redis
 * round trip was most of the edge's cost on location ingest (profiled: ioredis, rate-limiter-flexible,
 * their socket writes and the garbage they make were ~5 of the 5.3 s the edge added to a router
 * serving ~80k updates). The local count is a plain map (rate-limiter-flexible's memory limiter cost
 * several microseconds a call in that profile: a promise, a record and a timer per key).
 *
 * Decisions are local: this replica refuses once its own count, last set from Redis, is spent. After a
 * sync its count becomes Redis' total (every replica's points) plus what it counted since, so a caller
 * spreading requests over replicas is refused once the total is spent, give or take `syncEvery` points
 * per replica (the accuracy bought with 1/`syncEvery` of the Redis calls). What was counted but not yet
 * synced is synced once a window, and windows that ended are dropped then. Redis down: the shared
 * store's insurance answers (and logs it); the local count keeps limiting, per replica.
 */
class PeriodicSyncStore implements Store {
  readonly #points: number;
  readonly #windowMs: number;
  readonly #shared: Store;
  readonly #syncEvery: number;
  readonly #background: (work: Promise<unknown>) => void;
  readonly #windows = new Map<string, LocalWindow>();
  #nextFlush: number;

  constructor(options: { points: number; duration: number }, shared: Store, syncEvery: number, background: (work: Promise<unknown>) => void) {
    this.#points = options.points;
    this.#windowMs = options.duration * 1000;
    this.#shared = shared;
    this.#syncEvery = syncEvery;
    this.#background = background;
    this.#nextFlush = Date.now() + this.#windowMs;
  }

  consume(key: string, points = 1): Promise<RateLimiterRes> {
    const { allowed, res } = this.consumeNow(key, points);
    return allowed ? Promise.resolve(res) : Promise.reject(res);
  }

  consumeNow(key: string, points: number): { allowed: boolean; res: RateLimiterRes } {
    const now = Date.now();
    let window = this.#windows.get(key);
    if (!window || window.resetAt <= now) {
      // Points a window that ended did not sync are not carried into the next one.
      window = { consumed: 0, unsynced: 0, syncing: false, resetAt: now + this.#windowMs };
      this.#windows.set(key, window);
    }
    window.consumed += points;
    window.unsynced += points;
    if (window.unsynced >= this.#syncEvery && !window.syncing) this.#sync(key, window);
    if (now >= this.#nextFlush) this.#flush(now);
    return { allowed: window.consumed <= this.#points, res: this.#res(window, now) };
  }

  /** Syncs every key with points counted here and forgets windows that ended (once a window: no timer). */
  #flush(now: number): void {
    this.#nextFlush = now + this.#windowMs;
    for (const [key, window] of this.#windows) {
      if (window.unsynced > 0 && !window.syncing) this.#sync(key, window);
      else if (window.resetAt <= now && !window.syncing) this.#windows.delete(key);
    }
  }

  #sync(key: string, window: LocalWindow): void {
    const points = window.unsynced;
    window.unsynced = 0;
    window.syncing = true;
    const synced = this.#shared.consume(key, points).then(
      (res) => res,
      (error: unknown) => {
        if (error instanceof RateLimiterRes) return error;
        window.unsynced += points;
        throw error;
      },
    );
    this.#background(
      synced
        .then((res) => {
          // Redis' total for the key, plus what was counted here while it answered.
          if (res.msBeforeNext <= 0) return;
          window.consumed = res.consumedPoints + window.unsynced;
          window.resetAt = Date.now() + res.msBeforeNext;
        })
        .finally(() => {
          window.syncing = false;
        }),
    );
  }

  #res(window: LocalWindow, now: number): RateLimiterRes {
    return new RateLimiterRes(Math.max(this.#points - window.consumed, 0), Math.max(window.resetAt - now, 0), window.consumed, window.consumed === window.unsynced);
  }

  async reward(key: string, points = 1): Promise<RateLimiterRes> {
    const window = this.#windows.get(key);
    if (!window) return new RateLimiterRes(this.#points, 0, 0);
    window.consumed -= points;
    window.unsynced -= points;
    return this.#res(window, Date.now());
  }

  async get(key: string): Promise<RateLimiterRes | null> {
    const window = this.#windows.get(key);
    const now = Date.now();
    return window && window.resetAt > now ? this.#res(window, now) : null;
  }

  block(key: string, seconds: number): Promise<RateLimiterRes> {
    const now = Date.now();
    this.#windows.set(key, { consumed: this.#points + 1, unsynced: 0, syncing: false, resetAt: now + seconds * 1000 });
    return this.#shared.block(key, seconds);
  }

  async delete(key: string): Promise<boolean> {
    this.#windows.delete(key);
    return this.#shared.delete(key);
  }
}

/** A key's window as one replica counts it. */
interface LocalWindow {
  /** Points spent in the window as far as this replica knows: Redis' total at the last sync, plus its own since. */
  consumed: number;
  /** Points counted here and not yet added to Redis (negative after a reward). */
  unsynced: number;
  syncing: boolean;
  /** Date.now() when the window ends. */
  resetAt: number;
}

/**
 * The insurance limiter of every Redis limiter: counts in the process while Redis fails or is slow,
 * and says so (rate-limiter-flexible calls it silently).
 */
class FallbackMemory extends RateLimiterMemory {
  readonly #onFallback: () => void;
  constructor(options: { keyPrefix: string; points: number; duration: number }, onFallback: () => void) {
    super(options);
    this.#onFallback = onFallback;
  }
  override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.#onFallback();
    return super.consume(key, points, options);
  }
  override reward(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.#onFallback();
    return super.reward(key, points, options);
  }
  override penalty(key: string | number, points?: number, options?: Record<string, unknown>) {
    this.#onFallback();
    return super.penalty(key, points, options);
  }
  override get(key: string | number, options?: Record<string, unknown>) {
    this.#onFallback();
    return super.get(key, options);
  }
  override block(key: string | number, seconds: number, options?: Record<string, unknown>) {
    this.#onFallback();
    return super.block(key, seconds, options);
  }
  override delete(key: string | number, options?: Record<string, unknown>) {
    this.#onFallback();
    return super.delete(key, options);
  }
}

/** The operation's root fields, through inline fragments and fragment spreads (directives ignored: a skipped logIn still counts). */
export function rootFields(selectionSet: SelectionSetNode, document: DocumentNode | undefined, seen = new Set<string>()): FieldNode[] {
  const fields: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) fields.push(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) fields.push(...rootFields(selection.selectionSet, document, seen));
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document?.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) fields.push(...rootFields(fragment.selectionSet, document, seen));
    }
  }
  return fields;
}

/** logIn's `phone` argument, literal or variable, trimmed as accounts trims it; undefined if not a string. */
function phoneOf(field: FieldNode, variables: Readonly<Record<string, unknown>>): string | undefined {
  const argument = field.arguments?.find((arg) => arg.name.value === 'phone');
  if (!argument) return undefined;
  const value = argument.value.kind === Kind.STRING ? argument.value.value : argument.value.kind === Kind.VARIABLE ? variables[argument.value.name.value] : undefined;
  return typeof value === 'string' ? value.trim() : undefined;
}

/** Phone numbers never appear in Redis keys. */
function digest(phone: string): string {
  return createHash('sha256').update(phone).digest('base64url').slice(0, 22);
}

/** For logs: country and operator prefix and the last 3 digits, e.g. +2010*****567. */
export function maskPhone(phone: string): string {
  if (phone.length <= 8) return '*'.repeat(phone.length);
  return `${phone.slice(0, 5)}${'*'.repeat(phone.length - 8)}${phone.slice(-3)}`;
}

/**
 * The key of a client address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64 (one subscriber
 * gets a whole /64, so single addresses would not limit anyone).
 */
export function addressKey(ip: string): string {
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  const bare = ip.split('%')[0];
  if (!isIPv6(bare)) return ip;
  const [head, tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
