-- delete queue (wire-format.md 6.5). Leaves completed, counters, paused, groups and locks.
-- KEYS: pending, active, scheduled, retry, archived, lease
-- ARGV: force (1/0), task key prefix
-- Returns the IDs whose hashes were deleted; errors QUEUE NOT EMPTY / QUEUE BUSY.
if redis.call("LLEN", KEYS[2]) > 0 then
    if ARGV[1] == "1" then
        return redis.error_reply("QUEUE BUSY")
    end
    return redis.error_reply("QUEUE NOT EMPTY")
end
local deleted = {}
if ARGV[1] == "1" then
    local function drop(ids)
        for _, id in ipairs(ids) do
            redis.call("DEL", ARGV[2] .. id)
            table.insert(deleted, id)
        end
    end
    drop(redis.call("LRANGE", KEYS[1], 0, -1))
    for i = 3, 5 do
        drop(redis.call("ZRANGE", KEYS[i], 0, -1))
    end
elseif redis.call("LLEN", KEYS[1]) + redis.call("ZCARD", KEYS[3]) + redis.call("ZCARD", KEYS[4])
    + redis.call("ZCARD", KEYS[5]) > 0 then
    return redis.error_reply("QUEUE NOT EMPTY")
end
redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return deleted
