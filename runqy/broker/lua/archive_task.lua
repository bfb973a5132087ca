-- Inspector archive of one task (wire-format.md 6.6); msg stays as it is, and the trim leaves
-- the trimmed hashes behind, as asynq's inspector does.
-- KEYS: task key, pending, active, scheduled, retry, archived, completed, groups
-- ARGV: id, group key prefix, now, cutoff, cap, task key prefix. Returns the previous state.
local state, err = take_task_out("archived")
if not state then
    return redis.error_reply(err)
end
redis.call("ZADD", KEYS[6], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "state", "archived")
trim_archived(KEYS[6], ARGV[6], ARGV[4], tonumber(ARGV[5]), false)
return state
