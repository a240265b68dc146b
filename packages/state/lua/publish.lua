-- Stores a room message in its bounded stream and fans it out, in one round trip.
-- KEYS[1] the room's stream, KEYS[2] the room's channel
-- ARGV[1] max length (approximate trim), ARGV[2] from, ARGV[3] text, ARGV[4] ts (unix ms),
-- ARGV[5] frame head, ARGV[6] frame tail (the client frame is head .. id .. tail)
-- Publishes "<id>\n<frame>" and returns the id.
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
  'from', ARGV[2], 'text', ARGV[3], 'ts', ARGV[4])
redis.call('PUBLISH', KEYS[2], id .. '\n' .. ARGV[5] .. id .. ARGV[6])
return id
