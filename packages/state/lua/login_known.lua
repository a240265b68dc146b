-- A successful login: the network becomes known to the account (exempt from its
-- throttle) until its expiry; only the newest networks are kept. When it was not known
-- yet, login_account.lua counted this attempt: a success is given back, so that what
-- stays counted are failures.
-- KEYS[1] the account's known networks (sorted set network -> expiry, unix ms),
-- KEYS[2] the account's count (hash: failures, next_at)
-- ARGV[1] now (unix ms), ARGV[2] network, ARGV[3] how long it stays known (ms),
-- ARGV[4] how many networks are kept
local now = tonumber(ARGV[1])
local known = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not (known and tonumber(known) > now) then
  local failures = tonumber(redis.call('HGET', KEYS[2], 'failures'))
  if failures and failures > 0 then
    redis.call('HINCRBY', KEYS[2], 'failures', -1)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[2])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if excess > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
