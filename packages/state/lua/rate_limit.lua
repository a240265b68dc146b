-- Counts one message of a user against the sliding-window limit; a rejection counts as
-- a violation, and enough violations within one window block the user.
-- Loaded behind sliding_window.lua and violation.lua.
-- KEYS[1] the user's rate window (list), KEYS[2] the user's violations (sorted set)
-- KEYS[3] the user's blocked key, KEYS[4] the control channel
-- ARGV[1] now (unix ms), ARGV[2] window (ms), ARGV[3] max, ARGV[4] unique member,
-- ARGV[5] violations that block, ARGV[6] block duration (s), ARGV[7] the username
-- Returns {1} when accepted, or {0, retry_after_ms, violations, blocked (0|1)}.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local retry = sliding_window(KEYS[1], now, window, tonumber(ARGV[3]))
if retry == 0 then
  return {1}
end
local v = record_violation(KEYS[2], KEYS[3], KEYS[4], now, window, ARGV[4],
  tonumber(ARGV[5]), ARGV[6], ARGV[7])
return {0, retry, v[1], v[2]}
