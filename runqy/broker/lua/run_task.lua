-- Inspector run of one task (wire-format.md 6.6): scheduled, retry, archived, completed or
-- aggregating to pending, without pending_since.
-- KEYS: task key, pending, active, scheduled, retry, archived, completed, groups
-- ARGV: id, group key prefix. Returns the state the task was in.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return redis.error_reply("NOT FOUND")
end
if state == "pending"
    or not remove_from_container(queue_keys(2), state, ARGV[1], KEYS[1], ARGV[2]) then
    return redis.error_reply("WRONG STATE " .. state)
end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "pending")
return state
