-- A room's newest message and how many came after a user's read marker.
-- KEYS[1] the room's stream
-- ARGV[1] the read marker, or '' for none, ARGV[2] the most to count (the cap)
-- Returns {} for an empty room, else {id, fields, unread}: unread is the number of
-- entries after the marker, counted up to the cap (all kept entries when there is no
-- marker). Counting reads at most `cap` entries, and none when nothing is unread.
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last == nil then
  return {}
end
local cap = tonumber(ARGV[2])
local unread
if ARGV[1] == '' then
  unread = math.min(redis.call('XLEN', KEYS[1]), cap)
else
  local lm, ls = string.match(last[1], '^(%d+)-(%d+)$')
  local rm, rs = string.match(ARGV[1], '^(%d+)-(%d+)$')
  lm, ls, rm, rs = tonumber(lm), tonumber(ls), tonumber(rm), tonumber(rs)
  if lm < rm or (lm == rm and ls <= rs) then
    unread = 0
  else
    unread = #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', cap)
  end
end
return {last[1], last[2], unread}
