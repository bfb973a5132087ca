-- Counts for one queue (wire-format.md 6.6). A listed ID without a hash never breaks it.
-- KEYS: pending, active, scheduled, retry, archived, completed, groups, processed daily,
--       failed daily, processed total, failed total, paused
-- ARGV: task key prefix, group key prefix
-- Returns {pending, active, scheduled, retry, archived, completed, aggregating, groups,
--          processed today, failed today, processed total, failed total, paused, pending_since}
local out = {
    redis.call("LLEN", KEYS[1]), redis.call("LLEN", KEYS[2]), redis.call("ZCARD", KEYS[3]),
    redis.call("ZCARD", KEYS[4]), redis.call("ZCARD", KEYS[5]), redis.call("ZCARD", KEYS[6]),
}
local aggregating, group_names = 0, redis.call("SMEMBERS", KEYS[7])
for _, group in ipairs(group_names) do
    aggregating = aggregating + redis.call("ZCARD", ARGV[2] .. group)
end
table.insert(out, aggregating)
table.insert(out, #group_names)
for i = 8, 11 do
    table.insert(out, tonumber(redis.call("GET", KEYS[i]) or "0") or 0)
end
table.insert(out, redis.call("EXISTS", KEYS[12]))
local since = ""
local oldest = redis.call("LINDEX", KEYS[1], -1)
if oldest then
    since = redis.call("HGET", ARGV[1] .. oldest, "pending_since") or ""
end
table.insert(out, since)
return out
