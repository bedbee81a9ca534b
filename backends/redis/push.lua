-- push: ARGV[3] channel, ARGV[4] tps, ARGV[5] lane, ARGV[6] due (ms; <= now means now),
-- ARGV[7] number of entries, ARGV[8] the item (lines of "<cost> <entry json>").
local lane, due, count, item = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
releaseExpired()
local ch = channel(ARGV[3], true)
ch.tps = tonumber(ARGV[4])
-- Promote first, so what fell due before this push stays ahead of it.
promoteDue(ch)
if due > NOW then
  redis.call('ZADD', scheduleKey(ch.name), due, pad(nextSeq()) .. lane .. item)
  ch.scheduled = ch.scheduled + 1
else
  redis.call('RPUSH', laneKey(ch.name, lane), item)
  ch[lane] = ch[lane] + 1
end
ch.waiting = ch.waiting + count
redis.call('INCRBY', TOTAL, count)
place(ch)
saveChannels()
