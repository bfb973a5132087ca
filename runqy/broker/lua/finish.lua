-- Finish attempts of one queue, then take its next tasks, in one script: the worker's batched
-- acknowledgements and prefetch, and every single-task finish (wire-format.md 6.3, then 6.2).
-- Each task gets the transition asynq's own script makes for it; the counters are bumped once
-- for the whole batch (by its counts), the paused check is made once, and the completed and
-- lease sets get one ZADD each.
-- KEYS: active, lease, pending, paused, completed, retry, archived, processed daily,
--       failed daily, processed total, failed total, throughput hour
-- ARGV[1..9]: daily expire-at, int64 max, minute, throughput expire-at, task key prefix,
--       lease expiry, how many tasks to take, archive cutoff, archive cap
-- then 6 per task: kind, id, new msg, score, result or "", unique lock key or ""; kind:
--   c  markAsComplete (score: completed until; a result is stored in the same HSET)
--   d  done, retention 0: the task is deleted
--   r  retry (score: retry at), a failure;  p  the same without counting a failure
--   a  archive (score: now); archived is trimmed once, with the trimmed tasks' hashes
-- Returns {per-task replies, trimmed IDs, taken {id, msg, ...}}. A task's reply is 0 when it
-- was not active any more (NOT FOUND: nothing was written for it), otherwise 1, or for c
-- without a result the result already stored (nil when none), for the caller's mirror.
local prefix = ARGV[5]
local replies, trimmed = {}, {}
local failures, failed, archived = {}, 0, false  -- failures: each attempt counted, in order
local completed = {}  -- {score, id, ...}: one ZADD for the batch
for i = 10, #ARGV, 6 do
    local kind, id, msg, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local result, task_key = ARGV[i + 4], prefix .. ARGV[i + 1]
    local reply = 0
    if release_active(KEYS[1], KEYS[2], id) then
        reply = 1
        if kind == "c" then
            completed[#completed + 1] = score
            completed[#completed + 1] = id
            if result ~= "" then
                redis.call("HSET", task_key, "msg", msg, "state", "completed", "result", result)
            else
                redis.call("HSET", task_key, "msg", msg, "state", "completed")
                reply = redis.call("HGET", task_key, "result")
            end
            release_lock(ARGV[i + 5], id)
            failures[#failures + 1] = false
        elseif kind == "d" then
            if redis.call("DEL", task_key) == 0 then
                reply = 0
            else
                release_lock(ARGV[i + 5], id)
                failures[#failures + 1] = false
            end
        elseif kind == "a" then
            redis.call("ZADD", KEYS[7], score, id)
            redis.call("HSET", task_key, "msg", msg, "state", "archived")
            failures[#failures + 1] = true
            failed = failed + 1
            archived = true
        else
            redis.call("ZADD", KEYS[6], score, id)
            redis.call("HSET", task_key, "msg", msg, "state", "retry")
            if kind == "r" then
                failures[#failures + 1] = true
                failed = failed + 1
            end
        end
    end
    replies[#replies + 1] = reply
end
add_scored(KEYS[5], completed)
if archived then
    trimmed = trim_archived(KEYS[7], prefix, ARGV[8], tonumber(ARGV[9]), true)
end
local attempts = #failures
if attempts > 0 then
    bump_daily(KEYS[8], ARGV[1], attempts)
    if failed > 0 then
        bump_daily(KEYS[9], ARGV[1], failed)
    end
    count_totals(KEYS[10], KEYS[11], failures, failed, ARGV[2])
    count_minute(KEYS[12], ARGV[3], ARGV[4], attempts, failed)
end
return {replies, trimmed,
        take_tasks(KEYS[4], KEYS[3], KEYS[1], KEYS[2], ARGV[6], prefix, tonumber(ARGV[7]))}
