-- The account throttle against password spraying (docs/AUTH.md): one login attempt on an
-- account. A network known to the account passes uncounted; any other is counted, and
-- past the free attempts each must come a growing delay after the previous one.
-- KEYS[1] the account's count (hash: failures, next_at), KEYS[2] its known networks
--         (sorted set network -> expiry, unix ms)
-- ARGV[1] now (unix ms), ARGV[2] network, ARGV[3] free attempts, ARGV[4] base delay (ms),
-- ARGV[5] max delay (ms), ARGV[6] lifetime of the count (ms)
-- Returns {1} allowed, or {0, retry_after_ms}.
local now = tonumber(ARGV[1])
local known = redis.call('ZSCORE', KEYS[2], ARGV[2])
if known and tonumber(known) > now then
  return {1}
end
local count = redis.call('HMGET', KEYS[1], 'failures', 'next_at')
local failures = tonumber(count[1]) or 0
local next_at = tonumber(count[2]) or 0
if now < next_at then
  return {0, next_at - now}
end
failures = failures + 1
local delay = 0
local free = tonumber(ARGV[3])
if failures > free then
  delay = math.min(tonumber(ARGV[4]) * 2 ^ math.min(failures - free - 1, 40), tonumber(ARGV[5]))
end
redis.call('HSET', KEYS[1], 'failures', failures, 'next_at', string.format('%d', now + delay))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1}
