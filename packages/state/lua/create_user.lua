-- Creates an account hash only when the name is free.
-- KEYS[1] user key
-- ARGV[1] username, ARGV[2] password hash, ARGV[3] created_at (unix ms)
-- Returns 1 when created, 0 when the name is taken.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'username', ARGV[1], 'password_hash', ARGV[2], 'created_at', ARGV[3])
return 1
