-- enqueue / enqueueUnique / schedule / scheduleUnique / addToGroup / addToGroupUnique for one or
-- many tasks of one queue (wire-format.md 6.1).
-- KEYS: pending, scheduled, groups
-- ARGV: task key prefix, group key prefix, now ns, now s, then 7 values per task:
--       id, msg, state (pending|scheduled|aggregating), process_at, group, lock key, lock ttl
-- Returns one code per task: 1 created, 0 ID conflict, -1 duplicate (lock held).
local results = {}
for i = 5, #ARGV, 7 do
    local id, msg, state = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local lock, lock_ttl = ARGV[i + 5], ARGV[i + 6]
    local task_key = ARGV[1] .. id
    local code = 1
    if lock ~= "" and not redis.call("SET", lock, id, "NX", "EX", lock_ttl) then
        code = -1
    elseif redis.call("EXISTS", task_key) == 1 then
        code = 0
    elseif state == "pending" then
        redis.call("HSET", task_key, "msg", msg, "state", "pending", "pending_since", ARGV[3])
        if lock ~= "" then
            redis.call("HSET", task_key, "unique_key", lock)
        end
        redis.call("LPUSH", KEYS[1], id)
    elseif state == "scheduled" then
        redis.call("HSET", task_key, "msg", msg, "state", "scheduled")
        if lock ~= "" then
            redis.call("HSET", task_key, "unique_key", lock)
        end
        redis.call("ZADD", KEYS[2], ARGV[i + 3], id)
    else
        -- asynq's addToGroupUnique does not store unique_key in the hash
        local group = ARGV[i + 4]
        redis.call("HSET", task_key, "msg", msg, "state", "aggregating", "group", group)
        redis.call("ZADD", ARGV[2] .. group, ARGV[4], id)
        redis.call("SADD", KEYS[3], group)
    end
    table.insert(results, code)
end
return results
