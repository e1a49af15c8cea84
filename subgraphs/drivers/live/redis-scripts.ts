/**
 * The Lua scripts of the Redis live store. Each runs atomically in Redis, so a check and the writes it
 * guards can never interleave with another replica's; each is one round trip (EVALSHA via ioredis
 * `defineCommand`, which falls back to EVAL once per connection when the script is not cached).
 *
 * On a cluster every script touches one slot (keys.ts): one driver's bucket, `{drv:<ns>:<bb>}`. The bucket-wide ones
 * (sweep, cooldowns, positions) build their drivers' keys from the bucket's prefix, which is allowed on a
 * cluster only because those keys share the bucket's tag, hence its slot. No script touches a geo set
 * (its own slot) or a trip's offer set: a script returns what they need (a fix gone live, drivers gone
 * offline or silent), and the store sends GEOADD/ZREM/SADD itself (redis-store.ts). Reserving,
 * releasing and reading drivers of many buckets is one script over their hashes on one Redis or Sentinel
 * (no slots there), and one per driver, sent together, on a cluster.
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
 * KEYS: driver hash, presence, rate limit, the bucket's seen index, and on one Redis or Sentinel the geo
 *       set of the driver's vehicle type.
 * ARGV: driverId, now, presenceTtlMs, rateLimitMs (0: exempt), maxAccuracyM, maxAgeMs, maxSpeedKmh,
 *       channel, n, userId, vehicleType, maxIndexedLatitude, then per fix: lat, lng, heading, speedKmh,
 *       accuracyM ('' for none), recordedAt, message JSON.
 * Returns {'OFFLINE', state} | {'RATE_LIMITED', pttl} | {'OK', spoofing 0/1, verdict...}. The fix whose
 * verdict is LIVE is the driver's position now: it enters the geo set here when the set is given (one
 * round trip); on a cluster (the set is in another slot) the store sends GEOADD after.
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
  local base = 12 + (i - 1) * 7
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
  local base = 12 + (live - 1) * 7
  redis.call('HSET', KEYS[1], 'lat', ARGV[base + 1], 'lng', ARGV[base + 2], 'hd', ARGV[base + 3], 'spd', ARGV[base + 4], 'acc', ARGV[base + 5], 'at', ARGV[base + 6], 'seen', ARGV[2], 'uid', ARGV[10], 'vt', ARGV[11])
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  redis.call('PUBLISH', ARGV[8], ARGV[base + 7])
  if KEYS[5] then
    -- GEO sets hold latitudes up to ±85.05° only (Web Mercator): a fix beyond stays in the hash, unsearchable.
    if math.abs(tonumber(ARGV[base + 1])) <= tonumber(ARGV[12]) then
      redis.call('GEOADD', KEYS[5], ARGV[base + 2], ARGV[base + 1], ARGV[1])
    else
      redis.call('ZREM', KEYS[5], ARGV[1])
    end
  end
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
 * KEYS: driver hashes, in ranking order.
 * ARGV: tripId, now, atMost, then the drivers' ids (in KEYS' order).
 * Compare-and-set going down the ranking: each driver still AVAILABLE becomes OFFERED for the trip, until
 * `atMost` are. Returns the ids reserved. On one Redis (or Sentinel) the store sends every candidate in one
 * call; on a cluster, where a script stays in one slot, one driver per call (redis-store.ts).
 */
export const RESERVE_DRIVERS = `
local trip, now, atMost = ARGV[1], ARGV[2], tonumber(ARGV[3])
local reserved = {}
for i, key in ipairs(KEYS) do
  if #reserved >= atMost then break end
  if redis.call('HGET', key, 'state') == 'AVAILABLE' then
    redis.call('HSET', key, 'state', 'OFFERED', 'since', now, 'trip', trip)
    reserved[#reserved + 1] = ARGV[i + 3]
  end
end
return reserved
`;

/**
 * KEYS: driver hashes.
 * ARGV: tripId, now.
 * Compare-and-set per driver: one still OFFERED for this very trip goes back to AVAILABLE (idle time
 * kept); a driver offered another trip meanwhile, or no longer offered, is left alone. Returns 1 (released)
 * or 0 per key. One call for many drivers on one Redis, one per driver on a cluster.
 */
export const RELEASE_DRIVERS = `
local reply = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HMGET', key, 'state', 'trip')
  if fields[1] == 'OFFERED' and fields[2] == ARGV[1] then
    redis.call('HSET', key, 'state', 'AVAILABLE', 'since', ARGV[2])
    redis.call('HDEL', key, 'trip')
    reply[i] = 1
  else
    reply[i] = 0
  end
end
return reply
`;

/**
 * driverKey(id): a driver's hash key built from its id alone, as keys.ts builds it: its bucket is
 * keys.ts `driverBucket` (FNV-1a over the id's bytes, murmur3's fmix32, modulo the bucket count), in 32-bit
 * arithmetic done in halves (Lua numbers are doubles: a 32-bit product needs 64 bits). ARGV[1..4] are
 * keys.ts `driverKeyTemplate` (before, after, buckets, digits). A unit test pins it to the TypeScript.
 * NEARBY hashes every candidate it reads, so the FNV step is spelled for speed (measured with EVAL: 13 µs
 * per uuid the general way, which made Redis's share of a dispatch look about a millisecond): the
 * prime is 2^24 + 403, so h * prime mod 2^32 is (h mod 2^8) * 2^24 + h * 403 mod 2^32, exact in doubles;
 * and the id's bytes are read in one call.
 */
const DRIVER_KEY = `
local KEY_BEFORE, KEY_AFTER, BUCKETS, DIGITS = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local TWO32 = 4294967296
local bxor, byte = bit.bxor, string.byte
local function u32(x) return x % TWO32 end
local function mul32(a, b)
  local high, low = math.floor(a / 65536), a % 65536
  return ((high * b) % 65536 * 65536 + low * b) % TWO32
end
local function bucketOf(id)
  local h = 2166136261
  local n = #id
  for start = 1, n, 64 do
    local bytes = {byte(id, start, math.min(n, start + 63))}
    for i = 1, #bytes do
      h = bxor(h, bytes[i]) % TWO32
      h = ((h % 256) * 16777216 + h * 403) % TWO32
    end
  end
  h = u32(bxor(h, math.floor(h / 65536)))
  h = mul32(h, 2246822507)
  h = u32(bxor(h, math.floor(h / 8192)))
  h = mul32(h, 3266489909)
  h = u32(bxor(h, math.floor(h / 65536)))
  return h % BUCKETS
end
local function driverKey(id)
  return KEY_BEFORE .. string.format('%0' .. DIGITS .. 'x', bucketOf(id)) .. KEY_AFTER .. id
end
`;

/**
 * One Redis or Sentinel only (it reads drivers' hashes of any bucket, which a cluster forbids; there the
 * store walks in TypeScript with the same rules, redis-store.ts #nearbyOf).
 * KEYS: the geo sets to search (one per vehicle type asked for).
 * ARGV: key before, key after, buckets, digits (keys.ts driverKeyTemplate), lng, lat, radiusM, first,
 *       freshSince, marginM, initialRadiusM.
 * For each geo set: walks it nearest first, keeping AVAILABLE drivers with a fresh fix, until it has
 * `first` of them and has seen every member up to marginM beyond the last kept; the circle starts at
 * initialRadiusM and doubles up to radiusM only while that is not enough, COUNT grows when a walk runs
 * out before it is done. Members whose driver is OFFLINE or unknown leave the set. One round trip, where
 * the walk from the store costs two per step. Returns flat {id, lat, lng, recordedAt, idleSince, ...}.
 */
export const NEARBY = `${DRIVER_KEY}
local lng, lat = ARGV[5], ARGV[6]
local radius, want, freshSince, margin = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local reply = {}
for _, key in ipairs(KEYS) do
  local searched = math.min(radius, tonumber(ARGV[11]))
  local hashes = {}
  while true do
    local count = want * 2 + 8
    local kept, cutoff
    while true do
      local found = redis.call('GEOSEARCH', key, 'FROMLONLAT', lng, lat, 'BYRADIUS', searched + margin, 'm', 'ASC', 'COUNT', count, 'WITHDIST')
      local complete = #found < count
      kept, cutoff = {}, nil
      for _, item in ipairs(found) do
        local id, distance = item[1], tonumber(item[2])
        if cutoff and distance > cutoff then
          complete = true
          break
        end
        local fields = hashes[id]
        if not fields then
          fields = redis.call('HMGET', driverKey(id), 'state', 'lat', 'lng', 'at', 'idle', 'since')
          hashes[id] = fields
          if (not fields[1]) or fields[1] == 'OFFLINE' then redis.call('ZREM', key, id) end
        end
        if fields[1] == 'AVAILABLE' and fields[4] and tonumber(fields[4]) >= freshSince then
          kept[#kept + 1] = {id, fields[2], fields[3], fields[4], fields[5] or fields[6] or fields[4]}
          if #kept == want then cutoff = distance + margin end
        end
      end
      if complete then break end
      count = count * 4
    end
    -- Done when everything up to the cutoff was inside the circle searched, or the circle is the whole radius.
    if (cutoff and cutoff <= searched + margin) or searched >= radius then
      for _, hit in ipairs(kept) do
        for _, value in ipairs(hit) do reply[#reply + 1] = value end
      end
      break
    end
    searched = math.min(radius, searched * 2)
  end
end
return reply
`;

/** For tests: driverKey(ARGV[5]) as the script computes it. */
export const DRIVER_KEY_OF = `${DRIVER_KEY}
return driverKey(ARGV[5])
`;

/**
 * KEYS: hashes. ARGV: fields.
 * HMGET of every key in one call (a missing field or hash is nil), for one Redis or Sentinel, where
 * a script may name keys of any slot: one command instead of one per driver, which cost drivers' process
 * more CPU in ioredis than the search itself (bench:dispatch). On a cluster the store sends HMGETs.
 */
export const READ_HASHES = `
local reply = {}
for i, key in ipairs(KEYS) do reply[i] = redis.call('HMGET', key, unpack(ARGV)) end
return reply
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
