-- The shared part of every queue script: scripts.ts prepends it to each operation's own file.
-- The layout these functions keep is described at the top of queue.ts.
--
-- KEYS: the queue-wide keys (see QUEUE_KEYS in scripts.ts).
-- ARGV[1]: the key prefix, from which per-channel keys are built (which channel a pop serves or a
--          lease release touches is only known inside the script).
-- ARGV[2]: now, in milliseconds, from the caller's clock. Nothing here reads the server's TIME.
-- TPS_GUARD_MS, TPS_MAX_SKEW_SECONDS: defined ahead of this file by scripts.ts, from src/queue.ts.
--
-- A script reads each channel's hash once into a table (`channel`), works on the table, and must
-- end with `saveChannels()`, which writes every table it read back in one HSET each.
local READY, PARKED, LEASES, TOKENS, SEQ, TOTAL = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local PREFIX = ARGV[1]
local NOW = tonumber(ARGV[2])

local function channelKey(name) return PREFIX .. 'ch:' .. name end
-- lane is 'high' or 'bulk'
local function laneKey(name, lane) return PREFIX .. lane .. ':' .. name end
local function scheduleKey(name) return PREFIX .. 'sched:' .. name end

-- One sequence orders channel creation, scheduled items, service (round-robin) and tokens.
-- A fresh counter (a new prefix, or a Redis that lost its data) starts from the clock, so a token
-- issued before a data loss is not issued again.
local function nextSeq()
  local seq = redis.call('INCR', SEQ)
  if seq == 1 and NOW >= 1 then
    seq = math.floor(NOW) * 1000
    redis.call('SET', SEQ, seq)
  end
  return seq
end
-- Fixed width, so that lexical order (how a sorted set breaks score ties) is numeric order.
local function pad(n) return string.format('%016d', n) end

-- An item is one entry or what is left of a compound push: lines of "<cost> <entry json>",
-- joined by "\n" (JSON never holds a raw newline). Its first line pops next.
local function costOf(line) return tonumber(string.sub(line, 1, string.find(line, ' ', 1, true) - 1)) end

-- placed: 0 = in neither set (nothing waits), 1 = in READY, 2 = in PARKED.
-- high, bulk, scheduled: items in each lane and in the schedule; waiting: entries in all three.
local FIELDS = { 'first', 'last', 'inflight', 'waiting', 'high', 'bulk', 'scheduled', 'paused', 'tps', 'second', 'spent', 'placed' }
local loaded = {}

-- Ready channels are ordered by (fewest in flight, least recently served, first seen): the score
-- is the in-flight count, the member carries the rest so equal scores sort by it.
local function readyMember(ch) return pad(ch.last) .. pad(ch.first) .. ch.name end
local function nameOfReady(member) return string.sub(member, 33) end

-- The channel's state; nil if never seen, unless `create`.
local function channel(name, create)
  local ch = loaded[name]
  if ch then return ch end
  local values = redis.call('HMGET', channelKey(name), unpack(FIELDS))
  if values[1] then
    ch = { name = name }
    for i, field in ipairs(FIELDS) do ch[field] = tonumber(values[i]) end
  elseif create then
    ch = { name = name, first = nextSeq(), last = 0, inflight = 0, waiting = 0, high = 0, bulk = 0,
      scheduled = 0, paused = 0, tps = 0, second = -1, spent = 0, placed = 0 }
  else
    return nil
  end
  -- The member it is stored under in READY (when placed there), before this script changes it.
  ch.readyAs = readyMember(ch)
  loaded[name] = ch
  return ch
end

local function saveChannels()
  for name, ch in pairs(loaded) do
    local values = {}
    for _, field in ipairs(FIELDS) do
      values[#values + 1] = field
      values[#values + 1] = ch[field]
    end
    redis.call('HSET', channelKey(name), unpack(values))
  end
end

-- Moves scheduled items that are due to the tail of their lane, earliest due first (equal due
-- times in push order: the member starts with its sequence). Returns the next due time left.
local function promoteDue(ch)
  if ch.scheduled == 0 then return nil end
  local key = scheduleKey(ch.name)
  local nextDue = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  if nextDue > NOW then return nextDue end
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', NOW)
  for _, member in ipairs(due) do
    local lane = string.sub(member, 17, 20)
    redis.call('RPUSH', laneKey(ch.name, lane), string.sub(member, 21))
    ch[lane] = ch[lane] + 1
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW)
  ch.scheduled = ch.scheduled - #due
  if ch.scheduled == 0 then return nil end
  return tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
end

-- Whether a channel's recorded TPS second still counts for a caller in `second`: it is that
-- second, or a later one another process's clock reached (not more than TPS_MAX_SKEW_SECONDS on).
local function honoured(ch, second)
  return ch.second >= second and ch.second <= second + TPS_MAX_SKEW_SECONDS
end

-- NOW if the channel can be served now; otherwise when that may change (its pause ends, its next
-- scheduled item is due, the next second refills its budget); nil if nothing waits.
local function nextServeAt(ch)
  if ch.waiting == 0 then return nil end
  if ch.paused > NOW then return ch.paused end
  local nextDue = promoteDue(ch)
  local lane = (ch.high > 0 and 'high') or (ch.bulk > 0 and 'bulk') or nil
  if not lane then return nextDue end
  if ch.tps == 0 then return NOW end
  local second = math.floor(NOW / 1000)
  local refill = (second + 1) * 1000
  -- Nothing in the last TPS_GUARD_MS of a second: it would reach the provider in the next one.
  if NOW >= refill - TPS_GUARD_MS then return refill end
  -- An entry costing more than tps alone may go, but only as the first pop of its second.
  local spent = honoured(ch, second) and ch.spent or 0
  if spent == 0 then return NOW end
  if spent + costOf(redis.call('LINDEX', laneKey(ch.name, lane), 0)) <= ch.tps then return NOW end
  -- The budget refills next second, unless a cheaper high entry falls due before then.
  if nextDue and nextDue < refill then return nextDue end
  return refill
end

-- Puts a channel in the set its state calls for: ready, parked until its wake time, or neither.
-- While a channel is in READY its score is kept equal to its in-flight count.
local function place(ch)
  local at = nextServeAt(ch)
  local member = readyMember(ch)
  local ready = at ~= nil and at <= NOW
  if ch.placed == 1 and not (ready and member == ch.readyAs) then redis.call('ZREM', READY, ch.readyAs) end
  if ch.placed == 2 and (at == nil or ready) then redis.call('ZREM', PARKED, ch.name) end
  if at == nil then
    ch.placed = 0
  elseif ready then
    if not (ch.placed == 1 and member == ch.readyAs) then redis.call('ZADD', READY, ch.inflight, member) end
    ch.placed = 1
    ch.readyAs = member
  else
    redis.call('ZADD', PARKED, at, ch.name)
    ch.placed = 2
  end
end

-- A pause only ever extends: a short retry-after cannot cut a longer one short.
local function pauseUntil(ch, untilMs)
  if untilMs > ch.paused then ch.paused = untilMs end
end

-- Ends a token's lease and returns what it held; a token unknown or already finished changes nothing.
-- A lease is stored as "<lane>\n<line>\n<channel>".
local function finish(token)
  local lease = redis.call('HGET', TOKENS, token)
  if not lease then return nil end
  redis.call('HDEL', TOKENS, token)
  redis.call('ZREM', LEASES, token)
  local newline = string.find(lease, '\n', 6, true)
  local ch = channel(string.sub(lease, newline + 1))
  if not ch then return nil end
  ch.inflight = ch.inflight - 1
  if ch.placed == 1 then redis.call('ZADD', READY, ch.inflight, ch.readyAs) end
  return { ch = ch, lane = string.sub(lease, 1, 4), line = string.sub(lease, 6, newline - 1) }
end

local function returnToHead(lease)
  local ch = lease.ch
  redis.call('LPUSH', laneKey(ch.name, lease.lane), lease.line)
  ch[lease.lane] = ch[lease.lane] + 1
  ch.waiting = ch.waiting + 1
  redis.call('INCR', TOTAL)
end

-- Every operation starts here: tokens whose lease has run out go back to the head of their lane.
local function releaseExpired()
  local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', NOW)
  if #expired == 0 then return end
  local leases = {}
  for _, token in ipairs(expired) do
    local lease = finish(token)
    if lease then leases[#leases + 1] = lease end
  end
  -- Latest popped first, so the earliest popped ends up at the head of its lane.
  for i = #leases, 1, -1 do returnToHead(leases[i]) end
  for _, lease in ipairs(leases) do place(lease.ch) end
end
