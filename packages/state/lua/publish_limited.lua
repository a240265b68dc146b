-- Counts a message against its sender's sliding-window limit and, when it is allowed,
-- stores and fans it out: the whole path of a `send` in one round trip.
-- Loaded behind rate_limit.lua, which is wrapped as the local function rate_limit.
-- KEYS[1..4] as rate_limit.lua; KEYS[5] the room's stream, KEYS[6] the room's channel
-- ARGV[1..7] as rate_limit.lua; ARGV[8] max length, ARGV[9] from, ARGV[10] text,
-- ARGV[11] ts (unix ms), ARGV[12] frame head, ARGV[13] frame tail
-- Returns {1, id} when published, or rate_limit.lua's refusal {0, retry, violations, blocked}.
local decision = rate_limit({KEYS[1], KEYS[2], KEYS[3], KEYS[4]},
  {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]})
if decision[1] ~= 1 then
  return decision
end
local id = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*',
  'from', ARGV[9], 'text', ARGV[10], 'ts', ARGV[11])
redis.call('PUBLISH', KEYS[6], id .. '\n' .. ARGV[12] .. id .. ARGV[13])
return {1, id}
