-- janitor: delete completed tasks whose retention expired (wire-format.md 6.4).
-- KEYS: completed; ARGV: now, batch size, task key prefix. Returns the purged IDs.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
    redis.call("DEL", ARGV[3] .. id)
    redis.call("ZREM", KEYS[1], id)
end
return ids
