-- A true sliding window: the key is a list of accept times (unix ms), newest first, at
-- most `max` long. A message is accepted when fewer than `max` were accepted in the
-- last `window` ms, that is when the max-th newest accept time is at or before
-- now - window. Returns 0 when accepted (and records it), else the ms until a slot frees.
local function sliding_window(key, now, window, max)
  local n = redis.call('LLEN', key)
  if n >= max then
    local oldest = tonumber(redis.call('LINDEX', key, max - 1))
    if oldest ~= nil and oldest > now - window then
      return math.max(1, oldest + window - now)
    end
    redis.call('LTRIM', key, 0, max - 2)
  end
  redis.call('LPUSH', key, now)
  redis.call('PEXPIRE', key, window)
  return 0
end
