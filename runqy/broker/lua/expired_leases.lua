-- List tasks whose lease expired at or before the cutoff, with their msg (wire-format.md 6.4).
-- IDs without a hash are swept from lease and active (runqy's orphan sweep).
-- KEYS: lease, active; ARGV: cutoff, task key prefix
-- Returns {id1, msg1, id2, msg2, ...}.
local out = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])) do
    local msg = redis.call("HGET", ARGV[2] .. id, "msg")
    if msg then
        table.insert(out, id)
        table.insert(out, msg)
    else
        redis.call("ZREM", KEYS[1], id)
        redis.call("LREM", KEYS[2], 0, id)
    end
end
return out
