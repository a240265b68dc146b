-- Marks a refresh family revoked and lists its access tokens still alive.
-- KEYS[1] family key, KEYS[2] family's jti set
-- ARGV[1] now (unix s)
-- Returns the flat list jti, exp, jti, exp, ...
-- A family already gone is not recreated: an HSET on a missing key would leave a hash
-- without a TTL behind forever.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'state', 'revoked')
end
return redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf', 'WITHSCORES')
