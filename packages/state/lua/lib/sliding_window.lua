-- A true sliding window: the key is a list of accept times (unix ms), newest first, at
-- most `max` long. A message is accepted when fewer than `max` were accepted in the
-- last `window` ms, that is when the max-th newest accept time is at or before
-- now - window. Returns 0 when accepted (and records it), else the ms until a slot frees.
-- The time is pushed first and taken back on a refusal: an accepted message (the usual
-- case) costs two calls, not three (an LLEN before the push).
local function sliding_window(key, now, window, max)
  local n = redis.call('LPUSH', key, now)
  if n > max then
    -- the max-th newest before this push
    local oldest = tonumber(redis.call('LINDEX', key, max))
    if oldest ~= nil and oldest > now - window then
      redis.call('LPOP', key)
      return math.max(1, oldest + window - now)
    end
    redis.call('LTRIM', key, 0, max - 1)
  end
  redis.call('PEXPIRE', key, window)
  return 0
end
