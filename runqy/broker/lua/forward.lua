-- forward due tasks of one source ZSET (scheduled or retry) (wire-format.md 6.4).
-- KEYS: source, pending, groups
-- ARGV: now s, now ns, task key prefix, group key prefix
-- Returns how many IDs left the source (at most 100 per call).
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 100)
for _, id in ipairs(ids) do
    local task_key = ARGV[3] .. id
    redis.call("ZREM", KEYS[1], id)
    if redis.call("EXISTS", task_key) == 1 then
        local group = redis.call("HGET", task_key, "group")
        if group and group ~= "" then
            redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
            -- keeps the group visible to stats if the inspector dropped it when it emptied
            redis.call("SADD", KEYS[3], group)
            redis.call("HSET", task_key, "state", "aggregating")
        else
            redis.call("LPUSH", KEYS[2], id)
            redis.call("HSET", task_key, "state", "pending", "pending_since", ARGV[2])
        end
    end
end
return #ids
