-- Inspector archive of every task in one container (wire-format.md 6.6), one chunk per call;
-- trims like the single archive, leaving trimmed hashes behind.
-- KEYS: container, archived, groups
-- ARGV: kind (list|zset|group), task key prefix, group name, now, cutoff, cap, chunk size
-- Returns {moved, taken}, as run_all does.
local ids = container_ids(ARGV[1], KEYS[1], tonumber(ARGV[7]))
local moved = move_existing(ids, ARGV[2], function(id, task_key)
    redis.call("ZADD", KEYS[2], ARGV[4], id)
    redis.call("HSET", task_key, "state", "archived")
end)
drop_taken(ARGV[1], KEYS[1], #ids, KEYS[3], ARGV[3])
trim_archived(KEYS[2], ARGV[2], ARGV[5], tonumber(ARGV[6]), false)
return {moved, #ids}
