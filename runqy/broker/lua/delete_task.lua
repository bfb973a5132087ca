-- Inspector delete of one task (wire-format.md 6.6): any state except active.
-- KEYS: task key, pending, active, scheduled, retry, archived, completed, groups
-- ARGV: id, group key prefix. Returns the state the task was in.
local state, err = take_task_out(nil)
if not state then
    return redis.error_reply(err)
end
release_lock(redis.call("HGET", KEYS[1], "unique_key") or "", ARGV[1])
redis.call("DEL", KEYS[1])
return state
