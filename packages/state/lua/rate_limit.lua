-- A true sliding-window message limit per user, with escalation to a block.
-- KEYS[1] sorted set of accepted messages (member -> unix ms)
-- KEYS[2] sorted set of rejected messages (member -> unix ms)
-- KEYS[3] the user's blocked key, KEYS[4] the control channel (a block is announced there)
-- ARGV[1] now (unix ms), ARGV[2] window (ms), ARGV[3] max, ARGV[4] unique member,
-- ARGV[5] violations that block, ARGV[6] block duration (s), ARGV[7] the username
-- Returns {1} when accepted, or {0, retry_after_ms, violations, blocked (0|1)}.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = math.max(1, tonumber(oldest[2]) + window - now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[2], window)
local violations = redis.call('ZCARD', KEYS[2])
local blocked = 0
if violations >= tonumber(ARGV[5]) then
  if redis.call('SET', KEYS[3], 'rate_limit', 'EX', ARGV[6], 'NX') then
    blocked = 1
    redis.call('PUBLISH', KEYS[4], 'blocked ' .. ARGV[7])
  end
  redis.call('DEL', KEYS[2])
end
return {0, retry, violations, blocked}
