-- One page of a room's history: the messages just before an id, newest first, bounded by
-- count AND by bytes, so that no reply can outgrow what the asking socket may buffer
-- (and no timed-out command leaves a huge reply in this connection's output buffer).
-- KEYS[1] the room's stream
-- ARGV[1] end: '+' (the newest) or '(' .. id (exclusive), ARGV[2] max count,
-- ARGV[3] max bytes, ARGV[4] bytes a message costs beside its fields (the frame's fixed
-- part and the room's name)
-- Returns {more (0|1), entries newest first}. A page holds at least one message, whatever
-- its size; `more` says older messages remain.
-- A message's cost is its fields' bytes, plus 5 for every character JSON may escape as
-- \uXXXX: an upper bound of its frame (the node's messageCost() computes the same).
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
local from = ARGV[1]
while true do
  -- Small reads: one more than still wanted (to learn whether older ones remain), at most 16.
  local want = math.min(16, limit - #out + 1)
  local chunk = redis.call('XREVRANGE', KEYS[1], from, '-', 'COUNT', want)
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
return {more, out}
