/**
 * The Lua scripts of the Redis live store. Each runs atomically in Redis, so a check and the writes it
 * guards can never interleave with another replica's; each is one round trip (EVALSHA via ioredis
 * `defineCommand`, which falls back to EVAL once per connection when the script is not cached).
 *
 * Per-driver keys are built from the namespace prefix inside the scripts only where the set of drivers
 * is not known up front (sweep, nearby); all keys share the namespace's hash tag (keys.ts), one slot.
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
 * KEYS: driver hash, presence, rate limit, geo set of the driver's vehicle type, seen index.
 * ARGV: driverId, now, presenceTtlMs, rateLimitMs (0: exempt), maxAccuracyM, maxAgeMs, maxSpeedKmh,
 *       channel, maxIndexedLatitude, n, userId, vehicleType, then per fix: lat, lng, heading, speedKmh,
 *       accuracyM ('' for none), recordedAt, message JSON.
 * Returns {'OFFLINE', state} | {'RATE_LIMITED', pttl} | {'OK', spoofing 0/1, verdict...}.
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
local n = tonumber(ARGV[10])
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
  redis.call('HSET', KEYS[1], 'lat', ARGV[base + 1], 'lng', ARGV[base + 2], 'hd', ARGV[base + 3], 'spd', ARGV[base + 4], 'acc', ARGV[base + 5], 'at', ARGV[base + 6], 'seen', ARGV[2], 'uid', ARGV[11], 'vt', ARGV[12])
  if math.abs(tonumber(ARGV[base + 1])) <= tonumber(ARGV[9]) then
    redis.call('GEOADD', KEYS[4], ARGV[base + 2], ARGV[base + 1], ARGV[1])
  else
    redis.call('ZREM', KEYS[4], ARGV[1])
  end
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
  redis.call('ZADD', KEYS[5], now, ARGV[1])
  redis.call('PUBLISH', ARGV[8], ARGV[base + 7])
end
if spoofing then redis.call('HSETNX', KEYS[1], 'spoof', ARGV[2]) end
local reply = {'OK', spoofing and 1 or 0}
for i = 1, n do reply[i + 2] = verdicts[i] end
return reply
`;

/**
 * KEYS: driver hash, presence, seen index, geo set of the driver's vehicle type, cooldown index.
 * ARGV: driverId, to, now, presenceTtlMs, userId, vehicleType, tripId ('' for none), requireTrip ('1'
 *       or '0'), cooldownUntil (ms; used when `to` is COOLDOWN), then the states allowed to move.
 * OFFERED and BUSY record the trip; every other state clears it. COOLDOWN enters the cooldown index;
 * leaving it leaves the index. AVAILABLE from anything but OFFERED restarts the idle time.
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
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1])
elseif current == 'COOLDOWN' then
  redis.call('HDEL', KEYS[1], 'cu')
  redis.call('ZREM', KEYS[5], ARGV[1])
end
if to == 'AVAILABLE' and current ~= 'OFFERED' then redis.call('HSET', KEYS[1], 'idle', ARGV[3]) end
if to == 'OFFLINE' then
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
elseif current == 'OFFLINE' then
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
  redis.call('ZADD', KEYS[3], now, ARGV[1])
end
return {1, current, trip}
`;

/**
 * KEYS: the trip's offer set.
 * ARGV: key prefix, tripId, now, offer set TTL (ms), at most (how many to reserve), then driver ids.
 * Going down the ids in order, each driver still AVAILABLE becomes OFFERED for the trip and joins the
 * offer set, until `at most` are; the others are left alone. Returns the ids reserved.
 */
export const RESERVE = `
local prefix, trip, now, atMost = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local reserved = {}
for i = 6, #ARGV do
  if #reserved >= atMost then break end
  local driver = prefix .. 'd:' .. ARGV[i]
  if redis.call('HGET', driver, 'state') == 'AVAILABLE' then
    redis.call('HSET', driver, 'state', 'OFFERED', 'since', now, 'trip', trip)
    redis.call('SADD', KEYS[1], ARGV[i])
    reserved[#reserved + 1] = ARGV[i]
  end
end
if #reserved > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return reserved
`;

/**
 * KEYS: the trip's offer set.
 * ARGV: key prefix, tripId, now, except ('' for none), whole set ('1': the offer set's members, then
 *       the set is deleted; '0': the ids that follow), then driver ids.
 * Each driver still OFFERED for this trip goes back to AVAILABLE (idle time kept); a driver offered
 * another trip meanwhile is left alone. Returns the ids released.
 */
export const RELEASE = `
local prefix, trip, now, except = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ids
if ARGV[5] == '1' then
  ids = redis.call('SMEMBERS', KEYS[1])
else
  ids = {}
  for i = 6, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local released = {}
for _, id in ipairs(ids) do
  if id ~= except then
    local driver = prefix .. 'd:' .. id
    local fields = redis.call('HMGET', driver, 'state', 'trip')
    if fields[1] == 'OFFERED' and fields[2] == trip then
      redis.call('HSET', driver, 'state', 'AVAILABLE', 'since', now)
      redis.call('HDEL', driver, 'trip')
      released[#released + 1] = id
    end
    redis.call('SREM', KEYS[1], id)
  end
end
if ARGV[5] == '1' then redis.call('DEL', KEYS[1]) end
return released
`;

/**
 * KEYS: cooldown index.
 * ARGV: key prefix, now, batch size.
 * COOLDOWN drivers whose cooldown ended by now become AVAILABLE (their idle time restarts) and leave
 * the index. Returns {examined, ids made AVAILABLE...}.
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
 * KEYS: none (the drivers' hashes, by prefix and id).
 * ARGV: key prefix, freshSince, then driver ids (a batch of the seen index).
 * Positions of those drivers that are AVAILABLE with a fix recorded at or after freshSince.
 * Called per batch, not over the whole index: one script over 10,000 drivers held Redis (and so every
 * location update) for tens of milliseconds.
 * Returns flat {lat, lng, ...}.
 */
export const AVAILABLE_POSITIONS = `
local prefix, freshSince = ARGV[1], tonumber(ARGV[2])
local reply = {}
for i = 3, #ARGV do
  local fields = redis.call('HMGET', prefix .. 'd:' .. ARGV[i], 'state', 'lat', 'lng', 'at')
  if fields[1] == 'AVAILABLE' and fields[4] and tonumber(fields[4]) >= freshSince then
    reply[#reply + 1] = fields[2]
    reply[#reply + 1] = fields[3]
  end
end
return reply
`;

/**
 * KEYS: seen index.
 * ARGV: key prefix, now, presenceTtlMs, batch size, then the states that may go OFFLINE.
 * Looks at up to a batch of drivers not seen for presenceTtlMs; those whose presence deadline passed
 * leave the geo index, and go OFFLINE when their state allows (the others are looked at again a TTL later).
 * Returns {examined, swept ids...}.
 */
export const SWEEP = `
local prefix, now, ttl, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local offlineFrom = {}
for i = 5, #ARGV do offlineFrom[ARGV[i]] = true end
local candidates = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl, 'LIMIT', 0, batch)
local reply = {#candidates}
for _, id in ipairs(candidates) do
  local deadline = tonumber(redis.call('GET', prefix .. 'p:' .. id))
  if deadline and deadline > now then
    redis.call('ZADD', KEYS[1], deadline - ttl, id)
  else
    local driver = prefix .. 'd:' .. id
    local fields = redis.call('HMGET', driver, 'state', 'vt')
    if fields[2] then redis.call('ZREM', prefix .. 'geo:' .. fields[2], id) end
    redis.call('DEL', prefix .. 'p:' .. id)
    local state = fields[1] or 'OFFLINE'
    if state == 'OFFLINE' or offlineFrom[state] then
      if state ~= 'OFFLINE' then
        redis.call('HSET', driver, 'state', 'OFFLINE', 'since', ARGV[2])
        redis.call('HDEL', driver, 'trip')
      end
      redis.call('ZREM', KEYS[1], id)
      reply[#reply + 1] = id
    else
      redis.call('ZADD', KEYS[1], now, id)
    end
  end
end
return reply
`;

/**
 * KEYS: the geo sets to search (one per vehicle type asked for).
 * ARGV: key prefix, lng, lat, radiusM, first, freshSince, marginM, initialRadiusM.
 * For each geo set: walks it nearest first, keeping AVAILABLE drivers with a fresh fix, until it has
 * `first` of them and has seen every member up to marginM beyond the last kept (geohash coordinates
 * are approximate to well under a meter; the caller ranks exactly). GEOSEARCH costs what the geohash
 * boxes around the circle hold, so the search starts at initialRadiusM and doubles up to radiusM only
 * while that is not enough: in a dense city the first, small circle usually is. COUNT grows when a
 * walk runs out before it is done. Returns flat {id, lat, lng, recordedAt, idleSince, ...}.
 */
export const NEARBY = `
local prefix, lng, lat = ARGV[1], ARGV[2], ARGV[3]
local radius, want, freshSince, margin = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local reply = {}
for _, key in ipairs(KEYS) do
  local searched = math.min(radius, tonumber(ARGV[8]))
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
        local fields = redis.call('HMGET', prefix .. 'd:' .. id, 'state', 'lat', 'lng', 'at', 'idle', 'since')
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
