-- Inspector delete of every task in one container (wire-format.md 6.6).
-- KEYS: container, groups
-- ARGV: kind (list|zset|group), task key prefix, group name
-- Returns the deleted IDs. ZSET and group variants release the unique locks the tasks hold.
local ids
if ARGV[1] == "list" then
    ids = redis.call("LRANGE", KEYS[1], 0, -1)
else
    ids = redis.call("ZRANGE", KEYS[1], 0, -1)
end
for _, id in ipairs(ids) do
    local task_key = ARGV[2] .. id
    if ARGV[1] ~= "list" then
        release_lock(redis.call("HGET", task_key, "unique_key") or "", id)
    end
    redis.call("DEL", task_key)
end
redis.call("DEL", KEYS[1])
if ARGV[1] == "group" then
    redis.call("SREM", KEYS[2], ARGV[3])
end
return ids
