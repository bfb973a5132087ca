-- markAsComplete (wire-format.md 6.3); KEYS, ARGV and reply: mark_complete in _lib.lua.
return mark_complete()
