-- Presence of users in one room across nodes, with expiring entries.
-- KEYS[1] hash user -> number of live "<user>|<node>" entries
-- KEYS[2] sorted set "<user>|<node>" -> expiry (unix ms)
-- KEYS[3] the room's channel (presence events are published there)
-- ARGV[1] op: 'join' | 'leave' | 'refresh'
-- ARGV[2] now (unix ms), ARGV[3] expiry for this node's entries (unix ms)
-- ARGV[4] node id, ARGV[5] the publish command: PUBLISH, or SPUBLISH (Redis Cluster: the
-- channel is a shard channel in the room's slot), ARGV[6..] users this call is about
-- Every call first expires entries of nodes that stopped refreshing them; users left
-- with no entry go offline. Events are published as "<state> <user>" (no newline: see
-- packages/state/src/room-channel.ts); each receiving node builds the client frame.
local function event(user, state)
  redis.call(ARGV[5], KEYS[3], state .. ' ' .. user)
end

local function drop(member)
  local user = string.match(member, '^(.*)|')
  if redis.call('HINCRBY', KEYS[1], user, -1) <= 0 then
    redis.call('HDEL', KEYS[1], user)
    event(user, 'offline')
  end
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do
  redis.call('ZREM', KEYS[2], member)
  drop(member)
end

local op = ARGV[1]
for i = 6, #ARGV do
  local user = ARGV[i]
  local member = user .. '|' .. ARGV[4]
  if op == 'join' then
    if redis.call('ZADD', KEYS[2], ARGV[3], member) == 1 then
      if redis.call('HINCRBY', KEYS[1], user, 1) == 1 then
        event(user, 'online')
      end
    end
  elseif op == 'leave' then
    if redis.call('ZREM', KEYS[2], member) == 1 then
      drop(member)
    end
  elseif op == 'refresh' then
    if redis.call('ZADD', KEYS[2], 'XX', 'CH', ARGV[3], member) == 0 and
       redis.call('ZSCORE', KEYS[2], member) == false then
      -- the entry expired (the node was cut off): present again
      redis.call('ZADD', KEYS[2], ARGV[3], member)
      if redis.call('HINCRBY', KEYS[1], user, 1) == 1 then
        event(user, 'online')
      end
    end
  end
end
local ttl = tonumber(ARGV[3]) - tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
return 1
