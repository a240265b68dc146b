-- Spends a refresh token and stores its successor in the same family, atomically.
-- KEYS[1] old token key, KEYS[2] new token key, KEYS[3] family key, KEYS[4] family's jti set
-- ARGV[1] family id read before the call, ARGV[2] ttl of the new token (seconds)
-- Returns {'ok', user, created} | {'reused', user} | {'revoked', user} | {'invalid'};
-- created: when the family began (unix ms; '0' for families stored before it was kept).
local fam = redis.call('HGET', KEYS[1], 'family')
if not fam or fam ~= ARGV[1] then
  return {'invalid'}
end
local user = redis.call('HGET', KEYS[1], 'user')
local fstate = redis.call('HGET', KEYS[3], 'state')
if not fstate then
  return {'invalid'}
end
-- A spent token presented again means two parties hold the family: revoke it.
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then
  redis.call('HSET', KEYS[3], 'state', 'revoked')
  return {'reused', user}
end
if fstate ~= 'active' then
  return {'revoked', user}
end
redis.call('HSET', KEYS[1], 'state', 'spent')
redis.call('HSET', KEYS[2], 'family', fam, 'user', user, 'state', 'active')
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[2])
return {'ok', user, redis.call('HGET', KEYS[3], 'created') or '0'}
