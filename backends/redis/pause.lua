-- pause: ARGV[3] channel, ARGV[4] pause until (ms).
releaseExpired()
local ch = channel(ARGV[3], true)
pauseUntil(ch, tonumber(ARGV[4]))
place(ch)
saveChannels()
