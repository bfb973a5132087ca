-- dequeue from one queue (wire-format.md 6.2).
-- KEYS: paused, pending, active, lease
-- ARGV: lease expiry, task key prefix
-- Returns {id, msg} or nil. An ID without a hash is dropped so it never sits in active.
if redis.call("EXISTS", KEYS[1]) == 1 then
    return nil
end
while true do
    local id = redis.call("RPOPLPUSH", KEYS[2], KEYS[3])
    if not id then
        return nil
    end
    local task_key = ARGV[2] .. id
    local msg = redis.call("HGET", task_key, "msg")
    if msg then
        redis.call("HSET", task_key, "state", "active")
        redis.call("HDEL", task_key, "pending_since")
        redis.call("ZADD", KEYS[4], ARGV[1], id)
        return {id, msg}
    end
    redis.call("LREM", KEYS[3], -1, id)
end
