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

local function cost(fields, overhead)
  local size = overhead
  for i = 2, #fields, 2 do
    local v = fields[i]
    local _, escapes = string.gsub(v, '[%c"\\]', '')
    size = size + #v + 5 * escapes
  end
  return size
end

local limit, max_bytes, overhead = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out, bytes, more = {}, 0, 0
local from = '(' .. ARGV[1]
while true do
  local want = math.min(16, limit - #out + 1)
  local chunk = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', want)
  for _, entry in ipairs(chunk) do
    if #out >= limit then
      more = 1
      break
    end
    local size = cost(entry[2], overhead)
    if #out > 0 and bytes + size > max_bytes then
      more = 1
      break
    end
    out[#out + 1] = entry
    bytes = bytes + size
  end
  if more == 1 or #chunk < want then
    break
  end
  from = '(' .. chunk[#chunk][1]
end
return {truncated, more, out}
