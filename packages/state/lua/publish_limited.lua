-- Counts a message against its sender's sliding-window limit and, when it is allowed,
-- stores and fans it out: the whole path of an accepted `send` in one round trip.
-- A refusal is recorded as a violation by rate_violation.lua, in a second call that
-- only refused messages make. Loaded behind sliding_window.lua.
-- KEYS[1] the sender's rate window (list), KEYS[2] the room's stream, KEYS[3] its channel
-- ARGV[1] now = ts (unix ms), ARGV[2] window (ms), ARGV[3] max, ARGV[4] history max length,
-- ARGV[5] from, ARGV[6] text, ARGV[7] frame head, ARGV[8] frame tail
-- (the client frame is head .. id .. tail)
-- Publishes "<id>\n<frame>" and returns {1, id}, or {0, retry_after_ms} when refused.
local retry = sliding_window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if retry ~= 0 then
  return {0, retry}
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
  'from', ARGV[5], 'text', ARGV[6], 'ts', ARGV[1])
redis.call('PUBLISH', KEYS[3], id .. '\n' .. ARGV[7] .. id .. ARGV[8])
return {1, id}
