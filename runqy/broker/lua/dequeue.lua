-- dequeue from one queue (wire-format.md 6.2).
-- KEYS: paused, pending, active, lease
-- ARGV: lease expiry, task key prefix
-- Returns {id, msg} or nil.
return take_next(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
