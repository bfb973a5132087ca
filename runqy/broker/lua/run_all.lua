-- Inspector run of every task in one ZSET or group (wire-format.md 6.6).
-- KEYS: container, pending, groups
-- ARGV: kind (zset|group), task key prefix, group name. Returns the count moved.
local moved = move_existing(container_ids(ARGV[1], KEYS[1]), ARGV[2], function(id, task_key)
    redis.call("LPUSH", KEYS[2], id)
    redis.call("HSET", task_key, "state", "pending")
end)
drop_container(ARGV[1], KEYS[1], KEYS[3], ARGV[3])
return moved
