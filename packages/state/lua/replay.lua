-- The messages of a room after an id, and whether any after it were trimmed away.
-- KEYS[1] the room's stream
-- ARGV[1] since (exclusive), ARGV[2] max count
-- Returns {max_deleted_id, entries}; max_deleted_id is '0-0' when nothing was trimmed.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'0-0', {}}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local maxdel = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then
    maxdel = info[i + 1]
  end
end
return {maxdel, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
