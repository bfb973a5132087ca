-- Inspector delete of every task in one container (wire-format.md 6.6).
-- KEYS: container, groups
-- ARGV: kind (list|zset|group), task key prefix, group name, chunk size
-- Returns the IDs taken out of the container (at most one chunk; the caller repeats). ZSET and
-- group variants release the unique locks the tasks hold.
local ids = container_ids(ARGV[1], KEYS[1], tonumber(ARGV[4]))
for _, id in ipairs(ids) do
    local task_key = ARGV[2] .. id
    if ARGV[1] ~= "list" then
        release_lock(redis.call("HGET", task_key, "unique_key") or "", id)
    end
    redis.call("DEL", task_key)
end
drop_taken(ARGV[1], KEYS[1], #ids, KEYS[2], ARGV[3])
return ids
