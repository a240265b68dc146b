-- Escalation of rejected messages to a block, defined as a local function that
-- rate_limit.lua and rate_violation.lua are loaded behind.
-- vkey: sorted set of rejected messages (unique member -> unix ms); bkey: the user's
-- blocked key; ckey: the control channel (a block is announced there).
-- Returns {violations in the window, 1 when this call blocked the user else 0}.
local function record_violation(vkey, bkey, ckey, now, window, member, after, duration, user)
  redis.call('ZREMRANGEBYSCORE', vkey, '-inf', now - window)
  redis.call('ZADD', vkey, now, member)
  redis.call('PEXPIRE', vkey, window)
  local violations = redis.call('ZCARD', vkey)
  local blocked = 0
  if violations >= after then
    if redis.call('SET', bkey, 'rate_limit', 'EX', duration, 'NX') then
      blocked = 1
      redis.call('PUBLISH', ckey, 'blocked ' .. user)
    end
    redis.call('DEL', vkey)
  end
  return {violations, blocked}
end
