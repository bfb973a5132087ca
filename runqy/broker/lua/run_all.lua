-- Inspector run of every task in one ZSET or group (wire-format.md 6.6).
-- KEYS: container, pending, groups
-- ARGV: kind (zset|group), task key prefix, group name. Returns the count moved.
local moved = 0
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
    local task_key = ARGV[2] .. id
    if redis.call("EXISTS", task_key) == 1 then
        redis.call("LPUSH", KEYS[2], id)
        redis.call("HSET", task_key, "state", "pending")
        moved = moved + 1
    end
end
redis.call("DEL", KEYS[1])
if ARGV[1] == "group" then
    redis.call("SREM", KEYS[3], ARGV[3])
end
return moved
