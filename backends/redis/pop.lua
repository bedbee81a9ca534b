-- pop: ARGV[3] compound delay (ms), ARGV[4] lease length (ms).
-- Returns { token, channel, entry json }, or nil when nothing can be sent now.
local compoundDelayMs, leaseMs = tonumber(ARGV[3]), tonumber(ARGV[4])

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
  ch.spent = (ch.second == second and ch.spent or 0) + costOf(line)
  ch.second = second
  ch.last = seq
  ch.waiting = ch.waiting - 1
  ch.inflight = ch.inflight + 1
  redis.call('DECR', TOTAL)
  local token = pad(seq)
  redis.call('HSET', TOKENS, token, lane .. '\n' .. line .. '\n' .. ch.name)
  redis.call('ZADD', LEASES, NOW + leaseMs, token)
  return { token, ch.name, string.sub(line, string.find(line, ' ', 1, true) + 1) }
end

releaseExpired()
for _, name in ipairs(redis.call('ZRANGEBYSCORE', PARKED, '-inf', NOW)) do
  local ch = channel(name)
  if ch then place(ch) else redis.call('ZREM', PARKED, name) end
end
local popped = nil
while true do
  local top = redis.call('ZRANGE', READY, 0, 0)[1]
  if not top then break end
  local ch = channel(nameOfReady(top))
  -- The top may be stale: a high entry that fell due since it was placed is its new head, and
  -- this second's budget may not afford it.
  if ch and nextServeAt(ch) == NOW then
    popped = serve(ch)
    place(ch)
    break
  end
  -- Not servable now: it leaves READY before being placed again (which cannot put it back in
  -- READY), so this loop ends even if the stored state were inconsistent.
  redis.call('ZREM', READY, top)
  if ch then
    ch.placed = 0
    place(ch)
  end
end
saveChannels()
return popped
