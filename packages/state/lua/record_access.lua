-- Remembers an access token issued from a refresh family, unless the family was revoked
-- meanwhile (a reuse or a logout racing the refresh that issued it).
-- KEYS[1] family key, KEYS[2] family's jti set
-- ARGV[1] jti, ARGV[2] its exp (unix s), ARGV[3] now (unix s)
-- Returns 1 when recorded, 0 when the family is revoked or gone.
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
-- Kept while the family lives, and at least while this token does.
local keep = math.max(redis.call('TTL', KEYS[1]), tonumber(ARGV[2]) - tonumber(ARGV[3]), 1)
redis.call('EXPIRE', KEYS[2], keep)
return 1
