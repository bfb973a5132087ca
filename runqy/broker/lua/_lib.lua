-- Shared prelude of every runqy broker script (prepended by runqy/broker/scripts.py).

-- bump daily X: INCR, and on the first increment of the day EXPIREAT now + 90 days.
local function bump_daily(key, expire_at)
    if redis.call("INCR", key) == 1 then
        redis.call("EXPIREAT", key, expire_at)
    end
end

-- bump total X: wraps to 1 at the int64 maximum. One INCR in the common case: Redis refuses
-- to increment past the maximum, and only that refusal leads to the wrap.
local function bump_total(key, max_int)
    local bumped = redis.pcall("INCR", key)
    if type(bumped) == "table" and bumped.err then
        if redis.call("GET", key) ~= max_int then
            redis.call("INCR", key)  -- not the wrap (a value that is no integer): raise it
        end
        redis.call("SET", key, 1)
    end
end

-- The attempt is over: the ID leaves active and lease; false when another actor got there first.
local function release_active(active, lease, id)
    if redis.call("LREM", active, 0, id) == 0 then
        return false
    end
    return redis.call("ZREM", lease, id) ~= 0
end

-- A failed attempt: daily processed and failed, and both totals (wrap decided by processed).
local function count_failure(processed_daily, failed_daily, processed, failed, expire_at, max_int)
    bump_daily(processed_daily, expire_at)
    bump_daily(failed_daily, expire_at)
    if redis.call("GET", processed) == max_int then
        redis.call("SET", processed, 1)
        redis.call("SET", failed, 1)
    else
        redis.call("INCR", processed)
        redis.call("INCR", failed)
    end
end

-- Per-minute throughput (runqy layer, asynq keys untouched): the hour's hash, the minute
-- ("00".."59") and the hash's expire-at. Every attempt bumps "p<MM>", so the hash is created by
-- a "p" field's first increment: the expiry (the same for the whole hour) is set then, one
-- command instead of one per attempt.
local function count_minute(hash, minute, expire_at, failed)
    if redis.call("HINCRBY", hash, "p" .. minute, 1) == 1 then
        redis.call("EXPIREAT", hash, expire_at)
    end
    if failed then
        redis.call("HINCRBY", hash, "f" .. minute, 1)
    end
end

local function release_lock(lock, id)
    if lock ~= "" and redis.call("GET", lock) == id then
        redis.call("DEL", lock)
    end
end

-- dequeue from one queue (wire-format.md 6.2): {id, msg}, or false when the queue is paused or
-- empty. An ID without a hash is dropped so it never sits in active.
local function take_next(paused, pending, active, lease, lease_at, task_prefix)
    if redis.call("EXISTS", paused) == 1 then
        return false
    end
    while true do
        local id = redis.call("RPOPLPUSH", pending, active)
        if not id then
            return false
        end
        local task_key = task_prefix .. id
        local msg = redis.call("HGET", task_key, "msg")
        if msg then
            redis.call("HSET", task_key, "state", "active")
            redis.call("HDEL", task_key, "pending_since")
            redis.call("ZADD", lease, lease_at, id)
            return {id, msg}
        end
        redis.call("LREM", active, -1, id)
    end
end

-- markAsComplete: success with retention > 0 (wire-format.md 6.3).
-- KEYS[1..7]: active, lease, completed, task key, processed daily, processed total, throughput
-- hour. ARGV[1..9]: id, new msg, completed expiry, daily expire-at, int64 max, lock key or "",
-- result bytes or "", minute, throughput expire-at. A result is stored in the same step (the
-- worker's one-script success: the end state of set_result followed by markAsComplete).
-- Returns the stored result (nil when none) for the caller's result mirror; 1 when the result
-- came as an argument (the caller has it).
local function mark_complete()
    if not release_active(KEYS[1], KEYS[2], ARGV[1]) then
        return redis.error_reply("NOT FOUND")
    end
    if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
        return redis.error_reply("INTERNAL")
    end
    if ARGV[7] ~= "" then
        redis.call("HSET", KEYS[4], "msg", ARGV[2], "state", "completed", "result", ARGV[7])
    else
        redis.call("HSET", KEYS[4], "msg", ARGV[2], "state", "completed")
    end
    bump_daily(KEYS[5], ARGV[4])
    bump_total(KEYS[6], ARGV[5])
    count_minute(KEYS[7], ARGV[8], ARGV[9], false)
    release_lock(ARGV[6], ARGV[1])
    if ARGV[7] ~= "" then
        return 1
    end
    return redis.call("HGET", KEYS[4], "result")
end

-- Trim archived by age, then by rank (asynq keeps at most cap - 1 entries). With delete_hashes
-- the trimmed tasks' hashes go too (worker archive); the inspector's archive leaves them.
local function trim_archived(archived, task_prefix, cutoff, cap, delete_hashes)
    local trimmed = {}
    local old = redis.call("ZRANGE", archived, "-inf", cutoff, "BYSCORE")
    local over = redis.call("ZRANGE", archived, 0, -cap)
    for _, batch in ipairs({old, over}) do
        for _, id in ipairs(batch) do
            if delete_hashes then
                redis.call("DEL", task_prefix .. id)
            end
            table.insert(trimmed, id)
        end
    end
    redis.call("ZREMRANGEBYSCORE", archived, "-inf", cutoff)
    redis.call("ZREMRANGEBYRANK", archived, 0, -cap)
    return trimmed
end

-- Queue-wide keys in the fixed order used by the inspector scripts.
local function queue_keys(first)
    return {
        pending = KEYS[first], active = KEYS[first + 1], scheduled = KEYS[first + 2],
        retry = KEYS[first + 3], archived = KEYS[first + 4], completed = KEYS[first + 5],
        groups = KEYS[first + 6],
    }
end

-- Take one task out of the container of its state. Returns false for active (never removed
-- this way) and for unknown states.
local function remove_from_container(qk, state, id, task_key, group_prefix)
    if state == "pending" then
        redis.call("LREM", qk.pending, 0, id)
    elseif state == "aggregating" then
        local group = redis.call("HGET", task_key, "group")
        if group then
            local gkey = group_prefix .. group
            redis.call("ZREM", gkey, id)
            if redis.call("ZCARD", gkey) == 0 then
                redis.call("SREM", qk.groups, group)
            end
        end
    elseif state == "scheduled" or state == "retry" or state == "archived"
        or state == "completed" then
        redis.call("ZREM", qk[state], id)
    else
        return false
    end
    return true
end

-- The shared start of the single-task inspector actions (KEYS[1] = task key, KEYS[2..8] =
-- queue keys, ARGV[1] = id, ARGV[2] = group key prefix): the task's state once it is out of its
-- container, or nil and the error text. ``refused`` is a state the action does not apply to.
local function take_task_out(refused)
    local state = redis.call("HGET", KEYS[1], "state")
    if not state then
        return nil, "NOT FOUND"
    end
    if state == refused
        or not remove_from_container(queue_keys(2), state, ARGV[1], KEYS[1], ARGV[2]) then
        return nil, "WRONG STATE " .. state
    end
    return state
end

-- Up to `limit` IDs of a bulk action's container, from the end that is processed first: a
-- LIST ("list", the oldest at its right end), or a ZSET ("zset", "group"). Bulk actions work
-- in chunks so that one script never blocks Redis for long (http-api.md 7.2).
local function container_ids(kind, key, limit)
    if kind == "list" then
        return redis.call("LRANGE", key, -limit, -1)
    end
    return redis.call("ZRANGE", key, 0, limit - 1)
end

-- Remove the `count` IDs container_ids returned; an emptied group also leaves the groups set.
local function drop_taken(kind, key, count, groups, group)
    if count == 0 then
        return
    end
    if kind == "list" then
        redis.call("LTRIM", key, 0, -count - 1)
    else
        redis.call("ZREMRANGEBYRANK", key, 0, count - 1)
    end
    if kind == "group" and redis.call("EXISTS", key) == 0 then
        redis.call("SREM", groups, group)
    end
end

-- Apply move(id, task_key) to the IDs that still have a hash; returns how many.
local function move_existing(ids, task_prefix, move)
    local moved = 0
    for _, id in ipairs(ids) do
        local task_key = task_prefix .. id
        if redis.call("EXISTS", task_key) == 1 then
            move(id, task_key)
            moved = moved + 1
        end
    end
    return moved
end
