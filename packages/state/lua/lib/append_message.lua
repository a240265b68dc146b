-- Appends a message to a room's stream, bounded by length and by age: older entries go
-- (approximately: whole radix nodes), and a room nobody writes to expires whole once its
-- newest message is that old (max_age 0: no age bound). ts is the ARGV string (unix ms).
-- Returns the new id.
local function append_message(stream, ts, max_len, from, text, max_age)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', max_len, '*', 'from', from, 'text', text, 'ts', ts)
  if max_age > 0 then
    redis.call('XTRIM', stream, 'MINID', '~', tonumber(ts) - max_age)
    redis.call('PEXPIRE', stream, max_age)
  end
  return id
end
