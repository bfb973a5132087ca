"""Login throttling shared by every server process: failures per client address and account,
kept in Redis, with delays that grow.

Keying by address *and* account means a stranger's failures only slow the stranger: the admin,
from another address, logs in at once. Every attempt is counted as a failure when it starts
(and forgotten when it succeeds), so parallel guesses cannot slip in together. After
FREE_ATTEMPTS failures each further attempt waits 1 s, 2 s, 4 s ... up to MAX_DELAY after the
previous one; the count is forgotten FORGET_AFTER seconds after the last failure.

A small Lua script rather than Flask-Limiter: Flask-Limiter counts requests in fixed or moving
windows (a flat ban once the limit is hit), while this needs an exponential delay counted
from the last failure, checked and claimed in one atomic step.
"""

from __future__ import annotations

import hashlib

import redis

FREE_ATTEMPTS = 5
MAX_DELAY = 900
FORGET_AFTER = 86_400
KEY_PREFIX = "runqy:login-failures:"

# KEYS[1] = the (address, account) record; ARGV = FREE_ATTEMPTS, MAX_DELAY, FORGET_AFTER.
# Returns 0 and counts the attempt, or the whole seconds to wait (nothing counted).
_ATTEMPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
local record = redis.call('HMGET', KEYS[1], 'failures', 'last')
local failures = tonumber(record[1]) or 0
local last = tonumber(record[2]) or 0
local free = tonumber(ARGV[1])
if failures >= free then
  local delay = math.min(tonumber(ARGV[2]), 2 ^ (failures - free))
  local wait = last + delay - now
  if wait > 0 then return math.ceil(wait) end
end
redis.call('HSET', KEYS[1], 'failures', failures + 1, 'last', now)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 0
"""


class LoginThrottle:
    """Login attempts of one client address against one account, on the app's Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._attempt = client.register_script(_ATTEMPT)

    @staticmethod
    def key(address: str, account: str) -> str:
        # Hashed: neither addresses nor account names appear in Redis key listings.
        digest = hashlib.sha256(f"{address}\0{account}".encode()).hexdigest()[:32]
        return KEY_PREFIX + digest

    def attempt(self, address: str, account: str) -> int:
        """0 when the attempt may go ahead (it counts as a failure until `succeeded`), else
        the seconds to wait."""
        return int(self._attempt(keys=[self.key(address, account)],
                                 args=[FREE_ATTEMPTS, MAX_DELAY, FORGET_AFTER]))

    def succeeded(self, address: str, account: str) -> None:
        self.redis.delete(self.key(address, account))
