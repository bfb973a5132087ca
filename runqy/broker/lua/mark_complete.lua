-- markAsComplete: success with retention > 0 (wire-format.md 6.3).
-- KEYS: active, lease, completed, task key, processed daily, processed total, throughput hour
-- ARGV: id, new msg, completed expiry, daily expire-at, int64 max, lock key or "", result
--       bytes or "", minute, throughput expire-at. A result is stored in the same step (the
--       worker's one-script success: the end state of set_result followed by markAsComplete).
-- Returns the stored result (nil when none) for the caller's result mirror; 1 when the result
-- came as an argument (the caller has it).
if not release_active(KEYS[1], KEYS[2], ARGV[1]) then
    return redis.error_reply("NOT FOUND")
end
if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
    return redis.error_reply("INTERNAL")
end
if ARGV[7] ~= "" then
    redis.call("HSET", KEYS[4], "msg", ARGV[2], "state", "completed", "result", ARGV[7])
else
    redis.call("HSET", KEYS[4], "msg", ARGV[2], "state", "completed")
end
bump_daily(KEYS[5], ARGV[4])
bump_total(KEYS[6], ARGV[5])
count_minute(false)
release_lock(ARGV[6], ARGV[1])
if ARGV[7] ~= "" then
    return 1
end
return redis.call("HGET", KEYS[4], "result")
