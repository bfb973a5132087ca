-- Inspector delete of one task (wire-format.md 6.6): any state except active.
-- KEYS: task key, pending, active, scheduled, retry, archived, completed, groups
-- ARGV: id, group key prefix. Returns the state the task was in.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return redis.error_reply("NOT FOUND")
end
if not remove_from_container(queue_keys(2), state, ARGV[1], KEYS[1], ARGV[2]) then
    return redis.error_reply("WRONG STATE " .. state)
end
release_lock(redis.call("HGET", KEYS[1], "unique_key") or "", ARGV[1])
redis.call("DEL", KEYS[1])
return state
