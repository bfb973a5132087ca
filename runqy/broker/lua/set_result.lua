-- Store a result only while the task is active, so a late write never resurrects a task.
-- KEYS: task key; ARGV: result bytes. Returns 1 when written.
if redis.call("HGET", KEYS[1], "state") == "active" then
    redis.call("HSET", KEYS[1], "result", ARGV[1])
    return 1
end
return 0
