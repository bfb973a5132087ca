-- Inspector run of one task (wire-format.md 6.6): scheduled, retry, archived, completed or
-- aggregating to pending, without pending_since.
-- KEYS: task key, pending, active, scheduled, retry, archived, completed, groups
-- ARGV: id, group key prefix. Returns the state the task was in.
local state, err = take_task_out("pending")
if not state then
    return redis.error_reply(err)
end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "pending")
return state
