-- Redis Cluster, step 1 of a send (a user's keys and a room's are in different slots):
-- counts a message against its sender's sliding-window limit, as publish_limited.lua
-- does. When step 2 (store_message.lua) fails, the node gives the slot back (LREM of
-- the accept time): docs/OPERATIONS.md, "Redis Cluster".
-- KEYS[1] the sender's rate window (list)
-- ARGV[1] now = ts (unix ms), ARGV[2] window (ms), ARGV[3] max
-- Returns 0 when accepted (the accept time ARGV[1] is recorded), else the ms until a slot frees.

--#include sliding_window

return sliding_window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
