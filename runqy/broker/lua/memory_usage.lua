-- Approximate memory of one queue by sampling, as asynq does (wire-format.md 6.6), but a missing
-- hash counts 0 bytes and a refused MEMORY USAGE gives -1 ("unknown") instead of an error.
-- KEYS: pending, active, scheduled, retry, archived, completed, groups
-- ARGV: task key prefix, group key prefix, sample size, groups sampled
local function usage(key)
    local bytes = redis.pcall("MEMORY", "USAGE", key)
    if type(bytes) == "table" and bytes.err then
        error("refused")
    end
    return bytes or 0
end

local function sampled(ids, total)
    if #ids == 0 then
        return 0
    end
    local sum = 0
    for _, id in ipairs(ids) do
        sum = sum + usage(ARGV[1] .. id)
    end
    return math.floor(sum / #ids * total)
end

local function measure()
    local n = tonumber(ARGV[3])
    local bytes = 0
    for i = 1, 2 do
        bytes = bytes + usage(KEYS[i])
        bytes = bytes + sampled(redis.call("LRANGE", KEYS[i], 0, n - 1), redis.call("LLEN", KEYS[i]))
    end
    for i = 3, 6 do
        bytes = bytes + usage(KEYS[i])
        bytes = bytes + sampled(redis.call("ZRANGE", KEYS[i], 0, n - 1), redis.call("ZCARD", KEYS[i]))
    end
    local group_names = redis.call("SMEMBERS", KEYS[7])
    local ids, total = {}, 0
    for i, group in ipairs(group_names) do
        local gkey = ARGV[2] .. group
        total = total + redis.call("ZCARD", gkey)
        bytes = bytes + usage(gkey)
        if i <= tonumber(ARGV[4]) then
            for _, id in ipairs(redis.call("ZRANGE", gkey, 0, n - 1)) do
                table.insert(ids, id)
            end
        end
    end
    return bytes + sampled(ids, total)
end

local ok, bytes = pcall(measure)
if not ok then
    return -1
end
return bytes
