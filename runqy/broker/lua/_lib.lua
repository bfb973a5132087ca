-- Shared prelude of every runqy broker script (prepended by runqy/broker/scripts.py).

-- bump daily X by n: INCRBY, and on the day's first increment EXPIREAT now + 90 days.
local function bump_daily(key, expire_at, n)
    if redis.call("INCRBY", key, n) == n then
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

-- The totals after a batch of attempts, `failures` listing them in order (true: failed):
-- processed + all, failed + the failed ones. One INCRBY each; when Redis refuses (the int64
-- wrap is near), one attempt at a time as asynq does: a success wraps processed alone, a
-- failure wraps both (decided by processed).
local function count_totals(processed, failed_total, failures, failed, max_int)
    local bumped = redis.pcall("INCRBY", processed, #failures)
    if type(bumped) ~= "table" or not bumped.err then
        if failed > 0 then
            redis.call("INCRBY", failed_total, failed)
        end
        return
    end
    for _, failure in ipairs(failures) do
        if not failure then
            bump_total(processed, max_int)
        elseif redis.call("GET", processed) == max_int then
            redis.call("SET", processed, 1)
            redis.call("SET", failed_total, 1)
        else
            redis.call("INCR", processed)
            redis.call("INCR", failed_total)
        end
    end
end

-- The attempt is over: the ID leaves active and lease; false when another actor got there first.
local function release_active(active, lease, id)
    if redis.call("LREM", active, 0, id) == 0 then
        return false
    end
    return redis.call("ZREM", lease, id) ~= 0
end

-- Per-minute throughput (runqy layer, asynq keys untouched): the hour's hash, the minute
-- ("00".."59"), the hash's expire-at, the attempts and the failed ones among them. Every
-- attempt bumps "p<MM>", so the hash is created by a "p" field's first increment: the expiry
-- (the same for the whole hour) is set then, one command instead of one per attempt.
local function count_minute(hash, minute, expire_at, attempts, failed)
    if redis.call("HINCRBY", hash, "p" .. minute, attempts) == attempts then
        redis.call("EXPIREAT", hash, expire_at)
    end
    if failed > 0 then
        redis.call("HINCRBY", hash, "f" .. minute, failed)
    end
end

local function release_lock(lock, id)
    if lock ~= "" and redis.call("GET", lock) == id then
        redis.call("DEL", lock)
    end
end

-- ZADD of many members with their scores ({score, id, score, id, ...}) in one command.
local function add_scored(key, pairs)
    if #pairs > 0 then
        redis.call("ZADD", key, unpack(pairs))
    end
end

-- dequeue from one queue (wire-format.md 6.2): up to `count` tasks as {id, msg, id, msg, ...},
-- none when the queue is paused or empty. An ID without a hash is dropped so it never sits in
-- active. The paused check and the lease ZADD are made once for all of them.
local function take_tasks(paused, pending, active, lease, lease_at, task_prefix, count)
    local taken, leases = {}, {}
    if count < 1 or redis.call("EXISTS", paused) == 1 then
        return taken
    end
    while #taken < 2 * count do
        local id = redis.call("RPOPLPUSH", pending, active)
        if not id then
            break
        end
        local task_key = task_prefix .. id
        local msg = redis.call("HGET", task_key, "msg")
        if msg then
            redis.call("HSET", task_key, "state", "active")
            redis.call("HDEL", task_key, "pending_since")
            leases[#leases + 1] = lease_at
            leases[#leases + 1] = id
            taken[#taken + 1] = id
            taken[#taken + 1] = msg
        else
            redis.call("LREM", active, -1, id)
        end
    end
    add_scored(lease, leases)
    return taken
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
