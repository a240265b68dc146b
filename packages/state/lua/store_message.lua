-- Redis Cluster, step 2 of a send (after rate_take.lua): stores a message in its room's
-- stream and, for a room message, fans it out on the room's shard channel (same slot).
-- A DM's frame goes to both users' channels, which are in their users' slots: the node
-- publishes those itself.
-- KEYS[1] the room's stream, KEYS[2..] the room's channel, or none (a DM)
-- ARGV[1] ts (unix ms), ARGV[2] history max length, ARGV[3] from, ARGV[4] text,
-- ARGV[5] frame head, ARGV[6] frame tail (the client frame is head .. id .. tail),
-- ARGV[7] history max age (ms; 0: no age bound)
-- SPUBLISHes "<id>\n<frame>" on each channel; returns the id.

--#include append_message

local id = append_message(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[7]))
local payload = id .. '\n' .. ARGV[5] .. id .. ARGV[6]
for i = 2, #KEYS do
  redis.call('SPUBLISH', KEYS[i], payload)
end
return id
