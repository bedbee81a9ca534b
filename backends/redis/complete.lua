-- complete: ARGV[3] token.
releaseExpired()
finish(ARGV[3])
saveChannels()
