-- The messages of a room after an id, and whether any after it were trimmed away.
-- KEYS[1] the room's stream
-- ARGV[1] since (exclusive), ARGV[2] max count
-- Returns {truncated (0|1), entries}.
-- Trimming (XADD MAXLEN) does not move max-deleted-entry-id in Redis 7.0, so a gap is
-- inferred: entries were removed (entries-added > length) and `since` is older than the
-- first entry kept. XDEL'd entries are covered by max-deleted-entry-id.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, {}}
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
return {truncated, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
