-- dequeue from one queue (wire-format.md 6.2).
-- KEYS: paused, pending, active, lease
-- ARGV: lease expiry, task key prefix
-- Returns {id, msg} or nil.
local taken = take_tasks(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], 1)
if #taken == 0 then
    return false
end
return taken
