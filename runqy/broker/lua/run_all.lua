-- Inspector run of every task in one ZSET or group (wire-format.md 6.6), one chunk per call.
-- KEYS: container, pending, groups
-- ARGV: kind (zset|group), task key prefix, group name, chunk size.
-- Returns {moved, taken}: tasks moved, and IDs taken out of the container (the caller repeats
-- while a whole chunk was taken).
local ids = container_ids(ARGV[1], KEYS[1], tonumber(ARGV[4]))
local moved = move_existing(ids, ARGV[2], function(id, task_key)
    redis.call("LPUSH", KEYS[2], id)
    redis.call("HSET", task_key, "state", "pending")
end)
drop_taken(ARGV[1], KEYS[1], #ids, KEYS[3], ARGV[3])
return {moved, #ids}
