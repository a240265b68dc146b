-- One page of a room's history: the messages just before an id, newest first, bounded by
-- count AND by bytes, so that no reply can outgrow what the asking socket may buffer
-- (and no timed-out command leaves a huge reply in this connection's output buffer).
-- KEYS[1] the room's stream
-- ARGV[1] end: '+' (the newest) or '(' .. id (exclusive), ARGV[2] max count,
-- ARGV[3] max bytes, ARGV[4] bytes a message costs beside its fields (the frame's fixed
-- part and the room's name)
-- Returns {more (0|1), entries newest first}. A page holds at least one message, whatever
-- its size; `more` says older messages remain.
--#include read_page

local out, more = read_page(function(from, count)
  return redis.call('XREVRANGE', KEYS[1], from, '-', 'COUNT', count)
end, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return {more, out}
