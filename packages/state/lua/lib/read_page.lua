-- A message's cost is its fields' bytes, plus 5 for every character JSON may escape as
-- \uXXXX: an upper bound of its frame (the node's messageCost() computes the same).
local function message_cost(fields, overhead)
  local size = overhead
  for i = 2, #fields, 2 do
    local v = fields[i]
    local _, escapes = string.gsub(v, '[%c"\\]', '')
    size = size + #v + 5 * escapes
  end
  return size
end

-- One page of a stream, bounded by count AND by bytes: `read(from, count)` returns the
-- next entries in the page's direction from `from` (an XRANGE or XREVRANGE bound). Small
-- reads: one more than still wanted (to learn whether more remain), at most 16. A page
-- holds at least one message, whatever its size. Returns the entries and more (0|1).
local function read_page(read, from, limit, max_bytes, overhead)
  local out, bytes, more = {}, 0, 0
  while true do
    local want = math.min(16, limit - #out + 1)
    local chunk = read(from, want)
    for _, entry in ipairs(chunk) do
      if #out >= limit then
        more = 1
        break
      end
      local size = message_cost(entry[2], overhead)
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
  return out, more
end
