-- One page of the messages of a room after an id, oldest first, bounded by count AND by
-- bytes, and whether any after the id were trimmed away. A replay is read page by page,
-- each page only once the socket has room for it.
-- KEYS[1] the room's stream
-- ARGV[1] since (exclusive), ARGV[2] max count, ARGV[3] max bytes, ARGV[4] bytes a
-- message costs beside its fields (as in history.lua)
-- Returns {truncated (0|1), more (0|1), entries}. A page holds at least one message,
-- whatever its size; `more` says newer messages remain.
-- Trimming (XADD MAXLEN, XTRIM MINID) does not move max-deleted-entry-id in Redis 7.0, so
-- a gap is inferred: entries were removed (entries-added > length) and `since` is older
-- than the first entry kept. XDEL'd entries are covered by max-deleted-entry-id.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 0, {}}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local f = {}
for i = 1, #info, 2 do
  f[info[i]] = info[i + 1]
end
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local truncated = 0
local first = f['first-entry']
if tonumber(f['entries-added']) > tonumber(f['length']) and first and first[1] and before(ARGV[1], first[1]) then
  truncated = 1
end
if f['max-deleted-entry-id'] and before(ARGV[1], f['max-deleted-entry-id']) then
  truncated = 1
end

--#include read_page

local out, more = read_page(function(from, count)
  return redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', count)
end, '(' .. ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return {truncated, more, out}
