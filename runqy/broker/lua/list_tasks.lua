-- One page of a state container by rank (wire-format.md 6.6): cost depends on the page size only.
-- KEYS: container, lease
-- ARGV: kind (list|zset), start, stop, task key prefix
-- Returns one row per ID: {id, score, msg, state, result, hash retried, hash error_msg,
-- lease score}; missing values are nil.
local rows = {}
local ids, scores = {}, {}
if ARGV[1] == "list" then
    ids = redis.call("LRANGE", KEYS[1], ARGV[2], ARGV[3])
else
    local flat = redis.call("ZRANGE", KEYS[1], ARGV[2], ARGV[3], "WITHSCORES")
    for i = 1, #flat, 2 do
        table.insert(ids, flat[i])
        scores[flat[i]] = flat[i + 1]
    end
end
for _, id in ipairs(ids) do
    local h = redis.call("HMGET", ARGV[4] .. id, "msg", "state", "result", "retried", "error_msg")
    table.insert(rows, {id, scores[id] or false, h[1], h[2], h[3], h[4], h[5],
        redis.call("ZSCORE", KEYS[2], id)})
end
return rows
