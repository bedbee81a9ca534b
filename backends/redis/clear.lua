-- clear: deletes every queue key under the prefix (found with SCAN, so not listed in KEYS),
-- except the sequence, so tokens issued before the clear are never issued again.
local pattern = string.gsub(PREFIX, '[%*%?%[%]\\]', '\\%0') .. '*'
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if key ~= SEQ then redis.call('DEL', key) end
  end
until cursor == '0'
