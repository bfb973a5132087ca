-- markAsComplete, then the dequeue of the same queue's next task, in one script (the worker's
-- success; wire-format.md 6.3 then 6.2): one script call instead of two, and no next task is
-- taken when the completion is refused.
-- KEYS: mark_complete's 7 (_lib.lua), then paused, pending
-- ARGV: mark_complete's 9, then lease expiry, task key prefix
-- Returns {completion reply, {id, msg} or nil}, or mark_complete's error.
local completed = mark_complete()
if type(completed) == "table" and completed.err then
    return completed
end
return {completed or false, take_next(KEYS[8], KEYS[9], KEYS[1], KEYS[2], ARGV[10], ARGV[11])}
