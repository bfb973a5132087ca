-- done: success with retention 0 (wire-format.md 6.3).
-- KEYS: active, lease, task key, processed daily, processed total, throughput hour
-- ARGV: id, daily expire-at, int64 max, lock key or "", minute, throughput expire-at
if not release_active(KEYS[1], KEYS[2], ARGV[1]) or redis.call("DEL", KEYS[3]) == 0 then
    return redis.error_reply("NOT FOUND")
end
bump_daily(KEYS[4], ARGV[2])
bump_total(KEYS[5], ARGV[3])
count_minute(KEYS[6], ARGV[5], ARGV[6], false)
release_lock(ARGV[4], ARGV[1])
return 1
