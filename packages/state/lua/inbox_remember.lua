-- Remembers a room among a user's rooms, and forgets the oldest past the bound.
-- KEYS[1] the user's rooms (sorted set room -> remembered at, unix ms), KEYS[2] the
-- user's read markers (hash room -> id)
-- ARGV[1] room, ARGV[2] now (unix ms), ARGV[3] max rooms, ARGV[4] 'nx' (a DM: keep the
-- first time, write nothing when already there) or 'update' (a join), ARGV[5] a read
-- marker to start from when the room has none, or ''
-- A forgotten room loses its read marker too. Returns 1.
if ARGV[4] == 'nx' then
  redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
if ARGV[5] ~= '' then
  redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[5])
end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], excess)
  for i = 1, #popped, 2 do
    redis.call('HDEL', KEYS[2], popped[i])
  end
end
return 1
