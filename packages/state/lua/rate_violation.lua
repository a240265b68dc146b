-- Records a message that publish_limited.lua refused, with escalation to a block: the
-- user is blocked at the `after`-th refusal within one window.
-- KEYS[1] the user's violations (sorted set: unique member -> unix ms),
-- KEYS[2] the user's blocked key
-- ARGV[1] now (unix ms), ARGV[2] window (ms), ARGV[3] unique member,
-- ARGV[4] violations that block, ARGV[5] block duration (s), ARGV[6] the username,
-- ARGV[7] the control channel (a block is announced there; not a key: in Redis Cluster it
-- is a plain channel, in no slot of the user's)
-- Returns {violations in the window, 1 when this call blocked the user else 0}.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
local violations = redis.call('ZCARD', KEYS[1])
local blocked = 0
if violations >= tonumber(ARGV[4]) then
  if redis.call('SET', KEYS[2], 'rate_limit', 'EX', ARGV[5], 'NX') then
    blocked = 1
    redis.call('PUBLISH', ARGV[7], 'blocked ' .. ARGV[6])
  end
  redis.call('DEL', KEYS[1])
end
return {violations, blocked}
