/**
 * The Lua scripts of the Redis live store. Each runs atomically in Redis, so a check and the writes it
 * guards can never interleave with another replica's; each is one round trip (EVALSHA via ioredis
 * `defineCommand`, which falls back to EVAL once per connection when the script is not cached).
 *
 * Per-driver keys are built from the namespace prefix inside the scripts only where the set of drivers
 * is not known up front (sweep, nearby); all keys share the namespace's hash tag (keys.ts), one slot.
 *
 * Driver hash fields: state, since, uid, vt, lat, lng, hd, spd, acc, at (recordedAt ms), seen (ms), spoof (ms).
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
 * KEYS: driver hash, presence, seen index, geo set of the driver's vehicle type.
 * ARGV: driverId, to, now, presenceTtlMs, userId, vehicleType, then the states allowed to move.
 * Returns {1, previous} when it moved, {0, current} when not.
 */
export const TRANSITION = `
local current = redis.call('HGET', KEYS[1], 'state') or 'OFFLINE'
local allowed = false
for i = 7, #ARGV do
  if ARGV[i] == current then allowed = true end
end
if not allowed then return {0, current} end
local to, now, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'state', to, 'since', ARGV[3], 'uid', ARGV[5], 'vt', ARGV[6])
if to == 'OFFLINE' then
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
elseif current == 'OFFLINE' then
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
  redis.call('ZADD', KEYS[3], now, ARGV[1])
end
return {1, current}
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
      if state ~= 'OFFLINE' then redis.call('HSET', driver, 'state', 'OFFLINE', 'since', ARGV[2]) end
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
 * walk runs out before it is done. Returns flat {id, lat, lng, recordedAt, ...}.
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
        local fields = redis.call('HMGET', prefix .. 'd:' .. id, 'state', 'lat', 'lng', 'at')
        if fields[1] == 'AVAILABLE' and fields[4] and tonumber(fields[4]) >= freshSince then
          kept[#kept + 1] = {id, fields[2], fields[3], fields[4]}
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
