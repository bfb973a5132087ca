-- retry (wire-format.md 6.3); the unique lock is kept.
-- KEYS: active, lease, retry, task key, processed daily, failed daily, processed total, failed total,
--       throughput hour
-- ARGV: id, new msg, retry at, is failure (1/0), daily expire-at, int64 max, minute,
--       throughput expire-at
if not release_active(KEYS[1], KEYS[2], ARGV[1]) then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[4], "msg", ARGV[2], "state", "retry")
if ARGV[4] == "1" then
    count_failure(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[5], ARGV[6])
    count_minute(KEYS[9], ARGV[7], ARGV[8], true)
end
return 1
