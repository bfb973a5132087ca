-- archive by the worker (wire-format.md 6.3); trimmed tasks lose their hashes too.
-- KEYS: active, lease, archived, task key, processed daily, failed daily, processed total,
--       failed total, throughput hour
-- ARGV: id, new msg, now, cutoff, cap, daily expire-at, int64 max, task key prefix, minute,
--       throughput expire-at
-- Returns the IDs trimmed from archived.
if not release_active(KEYS[1], KEYS[2], ARGV[1]) then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
local trimmed = trim_archived(KEYS[3], ARGV[8], ARGV[4], tonumber(ARGV[5]), true)
redis.call("HSET", KEYS[4], "msg", ARGV[2], "state", "archived")
count_failure(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[6], ARGV[7])
count_minute(KEYS[9], ARGV[9], ARGV[10], true)
return trimmed
