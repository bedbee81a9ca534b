-- putBack: ARGV[3] token, ARGV[4] pause until (ms).
releaseExpired()
local lease = finish(ARGV[3])
if lease then
  returnToHead(lease)
  pauseUntil(lease.ch, tonumber(ARGV[4]))
  place(lease.ch)
end
saveChannels()
