-- pop: ARGV[3] compound delay (ms), ARGV[4] lease length (ms), ARGV[5] how many entries at most.
-- Returns { token, channel, entry json, token, channel, entry json, … }: as many as can be sent
-- now, up to the count, each chosen exactly as a pop of its own would choose it; empty when none.
local compoundDelayMs, leaseMs, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local function serve(ch)
  local lane = ch.high > 0 and 'high' or 'bulk'
  local item = redis.call('LPOP', laneKey(ch.name, lane))
  ch[lane] = ch[lane] - 1
  local seq = nextSeq()
  local line = item
  local newline = string.find(item, '\n', 1, true)
  if newline then
    line = string.sub(item, 1, newline - 1)
    redis.call('ZADD', scheduleKey(ch.name), NOW + compoundDelayMs, pad(seq) .. lane .. string.sub(item, newline + 1))
    ch.scheduled = ch.scheduled + 1
  end
  local second = math.floor(NOW / 1000)
  -- The second never moves back (within TPS_MAX_SKEW_SECONDS): a process whose clock is behind
  -- spends the later second's budget.
  if not honoured(ch, second) then
    ch.second = second
    ch.spent = 0
  end
  ch.spent = ch.spent + costOf(line)
  ch.last = seq
  ch.waiting = ch.waiting - 1
  ch.inflight = ch.inflight + 1
  redis.call('DECR', TOTAL)
  local token = pad(seq)
  redis.call('HSET', TOKENS, token, lane .. '\n' .. line .. '\n' .. ch.name)
  redis.call('ZADD', LEASES, NOW + leaseMs, token)
  return { token, ch.name, string.sub(line, string.find(line, ' ', 1, true) + 1) }
end

-- The next entry the fairest servable channel would send, or nil when no channel can send now.
local function popOne()
  while true do
    local top = redis.call('ZRANGE', READY, 0, 0)[1]
    if not top then return nil end
    local ch = channel(nameOfReady(top))
    -- The top may be stale: a high entry that fell due since it was placed is its new head, and
    -- this second's budget may not afford it.
    if ch and nextServeAt(ch) == NOW then
      local popped = serve(ch)
      place(ch)
      return popped
    end
    -- Not servable now: it leaves READY before being placed again (which cannot put it back in
    -- READY), so this loop ends even if the stored state were inconsistent.
    redis.call('ZREM', READY, top)
    if ch then
      ch.placed = 0
      place(ch)
    end
  end
end

releaseExpired()
for _, name in ipairs(redis.call('ZRANGEBYSCORE', PARKED, '-inf', NOW)) do
  local ch = channel(name)
  if ch then place(ch) else redis.call('ZREM', PARKED, name) end
end
local popped = {}
while #popped < max * 3 do
  local one = popOne()
  if not one then break end
  popped[#popped + 1] = one[1]
  popped[#popped + 1] = one[2]
  popped[#popped + 1] = one[3]
end
saveChannels()
return popped
