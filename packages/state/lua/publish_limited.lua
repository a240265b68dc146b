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

--#include sliding_window
--#include append_message

local retry = sliding_window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if retry ~= 0 then
  return {0, retry}
end
local id = append_message(KEYS[2], ARGV[1], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[11]))
redis.call('HSET', KEYS[3], ARGV[9], id)
local payload = id .. ARGV[10] .. '\n' .. ARGV[7] .. id .. ARGV[8]
for i = 4, #KEYS do
  redis.call('PUBLISH', KEYS[i], payload)
end
return {1, id}
