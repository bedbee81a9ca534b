-- size: ARGV[3] channel, or absent for the total.
releaseExpired()
saveChannels()
if ARGV[3] == nil then return tonumber(redis.call('GET', TOTAL) or 0) end
return tonumber(redis.call('HGET', channelKey(ARGV[3]), 'waiting') or 0)
