-- Registers a session under the per-user connection cap, across the cluster.
-- KEYS[1] sorted set session -> expiry (unix ms)
-- ARGV[1] now (unix ms), ARGV[2] expiry of the entry (unix ms), ARGV[3] session, ARGV[4] limit
-- Returns 1 when registered, 0 when the user is at the cap.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
