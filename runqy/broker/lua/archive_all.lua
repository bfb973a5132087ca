-- Inspector archive of every task in one container (wire-format.md 6.6); trims like the single
-- archive, leaving trimmed hashes behind.
-- KEYS: container, archived, groups
-- ARGV: kind (list|zset|group), task key prefix, group name, now, cutoff, cap
-- Returns the count archived.
local ids
if ARGV[1] == "list" then
    ids = redis.call("LRANGE", KEYS[1], 0, -1)
else
    ids = redis.call("ZRANGE", KEYS[1], 0, -1)
end
local moved = 0
for _, id in ipairs(ids) do
    local task_key = ARGV[2] .. id
    if redis.call("EXISTS", task_key) == 1 then
        redis.call("ZADD", KEYS[2], ARGV[4], id)
        redis.call("HSET", task_key, "state", "archived")
        moved = moved + 1
    end
end
redis.call("DEL", KEYS[1])
if ARGV[1] == "group" then
    redis.call("SREM", KEYS[3], ARGV[3])
end
trim_archived(KEYS[2], ARGV[2], ARGV[5], tonumber(ARGV[6]), false)
return moved
