-- Records a message that publish_limited.lua refused, with escalation to a block.
-- Loaded behind violation.lua.
-- KEYS[1] the user's violations (sorted set), KEYS[2] the user's blocked key,
-- KEYS[3] the control channel
-- ARGV[1] now (unix ms), ARGV[2] window (ms), ARGV[3] unique member,
-- ARGV[4] violations that block, ARGV[5] block duration (s), ARGV[6] the username
-- Returns {violations, blocked (0|1)}.
return record_violation(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]),
  ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6])
