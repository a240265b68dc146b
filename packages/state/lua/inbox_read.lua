-- Moves a user's read marker in one of their rooms forwards, never back, and tells
-- their other sessions.
-- KEYS[1] the user's rooms (sorted set), KEYS[2] their read markers (hash room -> id),
-- KEYS[3] their own channel
-- ARGV[1] room, ARGV[2] id (already clamped to the room's newest message), ARGV[3] the
-- session that asked (its own sessions but that one act on "read <room> <id> <session>"),
-- ARGV[4] the publish command: PUBLISH, or SPUBLISH (Redis Cluster: a shard channel in
-- the user's slot)
-- Returns {'unknown'} for a room that is not one of the user's, {'kept', marker} when the
-- marker is already at or after the id, {'moved', id} after moving it.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then
  return {'unknown'}
end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current then
  local cm, cs = parse(current)
  local nm, ns = parse(ARGV[2])
  if cm and (cm > nm or (cm == nm and cs >= ns)) then
    return {'kept', current}
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call(ARGV[4], KEYS[3], 'read ' .. ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return {'moved', ARGV[2]}
