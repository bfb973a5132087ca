-- requeue at shutdown: back to the right end of pending, no pending_since, no counters.
-- KEYS: active, lease, pending, task key; ARGV: id
if not release_active(KEYS[1], KEYS[2], ARGV[1]) then
    return redis.error_reply("NOT FOUND")
end
redis.call("RPUSH", KEYS[3], ARGV[1])
redis.call("HSET", KEYS[4], "state", "pending")
return 1
