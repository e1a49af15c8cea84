/**
 * The Lua scripts of the Redis live store. Each runs atomically in Redis, so a check and the writes it
 * guards can never interleave with another replica's; each is one round trip (EVALSHA via ioredis
 * `defineCommand`, which falls back to EVAL once per connection when the script is not cached).
 *
 * Every script touches one slot (keys.ts): one driver's bucket, `{drv:<ns>:<bb>}`. The bucket-wide ones
 * (sweep, cooldowns, positions) build their drivers' keys from the bucket's prefix, which is allowed on a
 * cluster only because those keys share the bucket's tag, hence its slot. No script touches a geo set
 * (its own slot) or a trip's offer set: a script returns what they need (a fix gone live, drivers gone
 * offline or silent), and the store sends GEOADD/ZREM/SADD itself (redis-store.ts). Reserving and
 * releasing drivers of many buckets is one compare-and-set script per driver, sent together.
 *
 * Driver hash fields: state, since, uid, vt, lat, lng, hd, spd, acc, at (recordedAt ms), seen (ms), spoof (ms),
 * trip (the trip OFFERED or BUSY for), idle (ms: became AVAILABLE by going online or ending a trip),
 * cu (ms: when COOLDOWN ends).
 */

/** Must match haversineM in geo.ts operation for operation, so both stores judge identically. */
const HAVERSINE = `
local RAD = math.pi / 180
local function haversine(aLat, aLng, bLat, bLng)
  local u = math.sin(((bLat - aLat) * RAD) / 2)
  local v = math.sin(((bLng - aLng) * RAD) / 2)
  local h = math.sqrt(u * u + math.cos(aLat * RAD) * math.cos(bLat * RAD) * v * v)
  if h > 1 then h = 1 end
  return 2 * 6372797.560856 * math.asin(h)
end
`;

/**
 * KEYS: driver hash, presence, rate limit, the bucket's seen index.
 * ARGV: driverId, now, presenceTtlMs, rateLimitMs (0: exempt), maxAccuracyM, maxAgeMs, maxSpeedKmh,
 *       channel, n, userId, vehicleType, then per fix: lat, lng, heading, speedKmh, accuracyM ('' for
 *       none), recordedAt, message JSON.
 * Returns {'OFFLINE', state} | {'RATE_LIMITED', pttl} | {'OK', spoofing 0/1, verdict...}. The fix whose
 * verdict is LIVE is the driver's position now: the store then puts it in the geo index.
 * The judging mirrors judgeFixes in fixes.ts.
 */
export const INGEST = `${HAVERSINE}
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or state == 'OFFLINE' then return {'OFFLINE', 'OFFLINE'} end
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
if window > 0 and not redis.call('SET', KEYS[3], '1', 'PX', window, 'NX') then
  return {'RATE_LIMITED', redis.call('PTTL', KEYS[3])}
end
local maxAccuracy, maxAge, maxSpeed = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local previous = redis.call('HMGET', KEYS[1], 'lat', 'lng', 'at')
local refLat, refLng, refAt = tonumber(previous[1]), tonumber(previous[2]), tonumber(previous[3])
local verdicts, live, spoofing = {}, 0, false
local n = tonumber(ARGV[9])
for i = 1, n do
  local base = 11 + (i - 1) * 7
  local lat, lng, accuracy, at = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6])
  if accuracy and accuracy > maxAccuracy then
    verdicts[i] = 'LOW_ACCURACY'
  elseif refAt and at <= refAt then
    verdicts[i] = 'OUT_OF_ORDER'
  elseif refAt and (haversine(refLat, refLng, lat, lng) / math.max((at - refAt) / 1000, 1)) * 3.6 > maxSpeed then
    spoofing = true
    verdicts[i] = 'IMPLAUSIBLE_SPEED'
  else
    refLat, refLng, refAt = lat, lng, at
    if now - at > maxAge then
      verdicts[i] = 'STALE'
    else
      if live > 0 then verdicts[live] = 'SUPERSEDED' end
      live = i
      verdicts[i] = 'LIVE'
    end
  end
end
if live > 0 then
  local base = 11 + (live - 1) * 7
  redis.call('HSET', KEYS[1], 'lat', ARGV[base + 1], 'lng', ARGV[base + 2], 'hd', ARGV[base + 3], 'spd', ARGV[base + 4], 'acc', ARGV[base + 5], 'at', ARGV[base + 6], 'seen', ARGV[2], 'uid', ARGV[10], 'vt', ARGV[11])
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  redis.call('PUBLISH', ARGV[8], ARGV[base + 7])
end
if spoofing then redis.call('HSETNX', KEYS[1], 'spoof', ARGV[2]) end
local reply = {'OK', spoofing and 1 or 0}
for i = 1, n do reply[i + 2] = verdicts[i] end
return reply
`;

/**
 * KEYS: driver hash, presence, the bucket's seen index, the bucket's cooldown index.
 * ARGV: driverId, to, now, presenceTtlMs, userId, vehicleType, tripId ('' for none), requireTrip ('1'
 *       or '0'), cooldownUntil (ms; used when `to` is COOLDOWN), then the states allowed to move.
 * OFFERED and BUSY record the trip; every other state clears it. COOLDOWN enters the cooldown index;
 * leaving it leaves the index. AVAILABLE from anything but OFFERED restarts the idle time. Going
 * OFFLINE leaves presence and the seen index; the store then takes the driver out of the geo index.
 * Returns {1, previous, previous trip} when it moved, {0, current, current trip} when not.
 */
export const TRANSITION = `
local current = redis.call('HGET', KEYS[1], 'state') or 'OFFLINE'
local trip = redis.call('HGET', KEYS[1], 'trip') or ''
local allowed = false
for i = 10, #ARGV do
  if ARGV[i] == current then allowed = true end
end
if allowed and ARGV[8] == '1' and trip ~= ARGV[7] then allowed = false end
if not allowed then return {0, current, trip} end
local to, now, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'state', to, 'since', ARGV[3], 'uid', ARGV[5], 'vt', ARGV[6])
if (to == 'OFFERED' or to == 'BUSY') and ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'trip', ARGV[7])
else
  redis.call('HDEL', KEYS[1], 'trip')
end
if to == 'COOLDOWN' then
  redis.call('HSET', KEYS[1], 'cu', ARGV[9])
  redis.call('ZADD', KEYS[4], ARGV[9], ARGV[1])
elseif current == 'COOLDOWN' then
  redis.call('HDEL', KEYS[1], 'cu')
  redis.call('ZREM', KEYS[4], ARGV[1])
end
if to == 'AVAILABLE' and current ~= 'OFFERED' then redis.call('HSET', KEYS[1], 'idle', ARGV[3]) end
if to == 'OFFLINE' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
elseif current == 'OFFLINE' then
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
  redis.call('ZADD', KEYS[3], now, ARGV[1])
end
return {1, current, trip}
`;

/**
 * KEYS: driver hash.
 * ARGV: tripId, now.
 * Compare-and-set: a driver still AVAILABLE becomes OFFERED for the trip. Returns 1 when it did, else 0.
 */
export const RESERVE_DRIVER = `
if redis.call('HGET', KEYS[1], 'state') ~= 'AVAILABLE' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'OFFERED', 'since', ARGV[2], 'trip', ARGV[1])
return 1
`;

/**
 * KEYS: driver hash.
 * ARGV: tripId, now.
 * Compare-and-set: a driver still OFFERED for this very trip goes back to AVAILABLE (idle time kept); a
 * driver offered another trip meanwhile, or no longer offered, is left alone. Returns 1 when released, else 0.
 */
export const RELEASE_DRIVER = `
local fields = redis.call('HMGET', KEYS[1], 'state', 'trip')
if fields[1] ~= 'OFFERED' or fields[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'AVAILABLE', 'since', ARGV[2])
redis.call('HDEL', KEYS[1], 'trip')
return 1
`;

/**
 * KEYS: the bucket's cooldown index.
 * ARGV: the bucket's key prefix, now, batch size.
 * The bucket's COOLDOWN drivers whose cooldown ended by now become AVAILABLE (their idle time restarts)
 * and leave the index. Returns {examined, ids made AVAILABLE...}.
 */
export const END_COOLDOWNS = `
local prefix, now = ARGV[1], tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local reply = {#due}
for _, id in ipairs(due) do
  local driver = prefix .. 'd:' .. id
  local fields = redis.call('HMGET', driver, 'state', 'cu')
  local ends = tonumber(fields[2])
  if fields[1] == 'COOLDOWN' and ends and ends > now then
    redis.call('ZADD', KEYS[1], ends, id)
  else
    if fields[1] == 'COOLDOWN' then
      redis.call('HSET', driver, 'state', 'AVAILABLE', 'since', ARGV[2], 'idle', ARGV[2])
      reply[#reply + 1] = id
    end
    redis.call('HDEL', driver, 'cu')
    redis.call('ZREM', KEYS[1], id)
  end
end
return reply
`;

/**
 * KEYS: the bucket's seen index.
 * ARGV: the bucket's key prefix, seenSince, freshSince, offset, batch size.
 * Looks at up to a batch of the bucket's drivers seen since seenSince (from `offset` in the index) and
 * returns the positions of those AVAILABLE with a fix recorded at or after freshSince.
 * A batch, not the whole bucket: one script over 10,000 drivers held Redis (and so every location update)
 * for tens of milliseconds.
 * Returns {examined, lat, lng, ...}.
 */
export const AVAILABLE_POSITIONS = `
local prefix, freshSince = ARGV[1], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf', 'LIMIT', tonumber(ARGV[4]), tonumber(ARGV[5]))
local reply = {#ids}
for _, id in ipairs(ids) do
  local fields = redis.call('HMGET', prefix .. 'd:' .. id, 'state', 'lat', 'lng', 'at')
  if fields[1] == 'AVAILABLE' and fields[4] and tonumber(fields[4]) >= freshSince then
    reply[#reply + 1] = fields[2]
    reply[#reply + 1] = fields[3]
  end
end
return reply
`;

/**
 * KEYS: the bucket's seen index.
 * ARGV: the bucket's key prefix, now, presenceTtlMs, batch size, then the states that may go OFFLINE.
 * Looks at up to a batch of the bucket's drivers not seen for presenceTtlMs; those whose presence
 * deadline passed must leave the geo index, and go OFFLINE when their state allows (the others are
 * looked at again a TTL later).
 * Returns {examined, count of swept, swept ids..., then driverId, vehicleType of each driver to take out
 * of the geo index}.
 */
export const SWEEP = `
local prefix, now, ttl, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local offlineFrom = {}
for i = 5, #ARGV do offlineFrom[ARGV[i]] = true end
local candidates = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl, 'LIMIT', 0, batch)
local swept, unindexed = {}, {}
for _, id in ipairs(candidates) do
  local deadline = tonumber(redis.call('GET', prefix .. 'p:' .. id))
  if deadline and deadline > now then
    redis.call('ZADD', KEYS[1], deadline - ttl, id)
  else
    local driver = prefix .. 'd:' .. id
    local fields = redis.call('HMGET', driver, 'state', 'vt')
    if fields[2] then
      unindexed[#unindexed + 1] = id
      unindexed[#unindexed + 1] = fields[2]
    end
    redis.call('DEL', prefix .. 'p:' .. id)
    local state = fields[1] or 'OFFLINE'
    if state == 'OFFLINE' or offlineFrom[state] then
      if state ~= 'OFFLINE' then
        redis.call('HSET', driver, 'state', 'OFFLINE', 'since', ARGV[2])
        redis.call('HDEL', driver, 'trip')
      end
      redis.call('ZREM', KEYS[1], id)
      swept[#swept + 1] = id
    else
      redis.call('ZADD', KEYS[1], now, id)
    end
  end
end
local reply = {#candidates, #swept}
for _, id in ipairs(swept) do reply[#reply + 1] = id end
for _, value in ipairs(unindexed) do reply[#reply + 1] = value end
return reply
`;
