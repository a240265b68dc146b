-- Counts a message against its sender's sliding-window limit and, when it is allowed,
-- stores and fans it out: the whole path of an accepted `send` in one round trip.
-- A refusal is recorded as a violation by rate_violation.lua, in a second call that
-- only refused messages make.
-- KEYS[1] the sender's rate window (list), KEYS[2] the room's stream, KEYS[3] the sender's
-- read markers (hash), KEYS[4..] the channels: the room's, or for a DM both users' own
-- ARGV[1] now = ts (unix ms), ARGV[2] window (ms), ARGV[3] max, ARGV[4] history max length,
-- ARGV[5] from, ARGV[6] text, ARGV[7] frame head, ARGV[8] frame tail
-- (the client frame is head .. id .. tail), ARGV[9] the room, ARGV[10] a tag after the id:
-- '' on a room's channel, ' <room>' on a user's channel (a user's DMs come from many rooms),
-- ARGV[11] history max age (ms; 0: no age bound)
-- Publishes "<id><tag>\n<frame>" on each channel, moves the sender's read marker in the
-- room to the message (nothing newer exists, so it never goes back) and returns {1, id},
-- or {0, retry_after_ms} when refused.

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

local retry = sliding_window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if retry ~= 0 then
  return {0, retry}
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
  'from', ARGV[5], 'text', ARGV[6], 'ts', ARGV[1])
-- History is bounded by age too: older entries go (approximately: whole radix nodes), and
-- a room nobody writes to expires whole once its newest message is that old.
local max_age = tonumber(ARGV[11])
if max_age > 0 then
  redis.call('XTRIM', KEYS[2], 'MINID', '~', tonumber(ARGV[1]) - max_age)
  redis.call('PEXPIRE', KEYS[2], max_age)
end
redis.call('HSET', KEYS[3], ARGV[9], id)
local payload = id .. ARGV[10] .. '\n' .. ARGV[7] .. id .. ARGV[8]
for i = 4, #KEYS do
  redis.call('PUBLISH', KEYS[i], payload)
end
return {1, id}
