"""Hundreds of thousands of archived tasks in seconds, for the search test and bench/search.py.

The real broker archives about 10,000 tasks/s through full transitions; the search only needs
what the archive leaves in Redis (the task hash's msg and state, the archived ZSET entry), so a
Lua loop writes exactly that, 50,000 tasks per call. Each msg is a real encoded TaskMessage
(the codec's bytes) with the task ID field appended; a few chosen tasks carry a different error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis

from runqy.broker import TaskMessage, encode, keys

ID_PREFIX = "00000000-0000-4000-8000-"  # + 12 digits: UUID-shaped IDs
COMMON_ERROR = "connection refused by upstream api.example.test:443"
BATCH = 50_000

FILL = """
local n, first, score = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local plain, special, prefix, ids = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local chosen = {}
for id in string.gmatch(ARGV[8], "[^,]+") do chosen[tonumber(id)] = true end
for i = first, first + n - 1 do
    local id = string.format("%s%012d", ids, i)
    local msg = (chosen[i] and special or plain) .. "\\26\\36" .. id
    redis.call("HSET", prefix .. id, "msg", msg, "state", "archived")
    redis.call("ZADD", KEYS[1], score, id)
end
return n
"""


def task_id(index: int) -> str:
    return f"{ID_PREFIX}{index:012d}"


def archived_msg(queue: str, error: str) -> bytes:
    """A failed TaskMessage as the archive leaves it, without its ID (field 3, appended)."""
    return encode(TaskMessage(type="report.render", payload=b'{"customer": 4711, "pages": 12}',
                              queue=queue, retry=3, retried=3, error_msg=error, timeout=60,
                              last_failed_at=int(time.time())))


def fill_archived(client: redis.Redis, queue: str, count: int, special: Sequence[int],
                  special_error: str) -> list[str]:
    """`count` archived tasks in `queue`; those at the `special` indexes fail with
    `special_error`, the others with COMMON_ERROR. Returns the special tasks' IDs."""
    client.sadd(keys.QUEUES, queue)
    plain, odd = archived_msg(queue, COMMON_ERROR), archived_msg(queue, special_error)
    chosen = ",".join(str(i) for i in special)
    now = int(time.time())
    for first in range(0, count, BATCH):
        client.eval(FILL, 1, keys.archived(queue), min(BATCH, count - first), first, now,
                    plain, odd, keys.task_key_prefix(queue), ID_PREFIX, chosen)
    return [task_id(i) for i in special]
