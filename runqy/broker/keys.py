"""Every Redis key name runqy uses (wire-format.md section 3). Nobody else builds key names.

Per-queue keys carry the ``{queue}`` hash tag so that all keys of one queue live in one Redis
Cluster slot. runqy-layer keys (result mirror, worker heartbeat) carry no tag.
Functions return ``str``; redis-py encodes them as UTF-8.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

PREFIX = "asynq:"
QUEUES = "asynq:queues"
SERVERS = "asynq:servers"
WORKERS = "asynq:workers"
SCHEDULERS = "asynq:schedulers"
CANCEL_CHANNEL = "asynq:cancel"
RUNQY_WORKERS = "runqy:workers"


def queue_prefix(q: str) -> str:
    """``asynq:{q}:``, the prefix shared by every key of one queue."""
    return f"asynq:{{{q}}}:"


def task_key_prefix(q: str) -> str:
    """``asynq:{q}:t:``; scripts append the task ID to it."""
    return f"{queue_prefix(q)}t:"


def task_key(q: str, task_id: str) -> str:
    return f"{task_key_prefix(q)}{task_id}"


def pending(q: str) -> str:
    return f"{queue_prefix(q)}pending"


def active(q: str) -> str:
    return f"{queue_prefix(q)}active"


def lease(q: str) -> str:
    return f"{queue_prefix(q)}lease"


def scheduled(q: str) -> str:
    return f"{queue_prefix(q)}scheduled"


def retry(q: str) -> str:
    return f"{queue_prefix(q)}retry"


def archived(q: str) -> str:
    return f"{queue_prefix(q)}archived"


def completed(q: str) -> str:
    return f"{queue_prefix(q)}completed"


def paused(q: str) -> str:
    return f"{queue_prefix(q)}paused"


def processed_total(q: str) -> str:
    return f"{queue_prefix(q)}processed"


def failed_total(q: str) -> str:
    return f"{queue_prefix(q)}failed"


def utc_date(unix: int) -> str:
    """The UTC day of a unix time, as used in daily counter names."""
    return _utc_day(unix // 86400)


@functools.lru_cache(maxsize=8)
def _utc_day(day: int) -> str:
    """Formatted once per day (every finish round names the day's counters)."""
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


def processed_daily(q: str, unix: int) -> str:
    return f"{processed_total(q)}:{utc_date(unix)}"


def failed_daily(q: str, unix: int) -> str:
    return f"{failed_total(q)}:{utc_date(unix)}"


def unique_prefix(q: str) -> str:
    return f"{queue_prefix(q)}unique:"


def unique(q: str, task_type: str, payload: bytes) -> str:
    """Uniqueness lock: MD5 of the exact payload bytes; no payload gives an empty checksum."""
    checksum = hashlib.md5(payload, usedforsecurity=False).hexdigest() if payload else ""
    return f"{unique_prefix(q)}{task_type}:{checksum}"


def groups(q: str) -> str:
    return f"{queue_prefix(q)}groups"


def group_prefix(q: str) -> str:
    """``asynq:{q}:g:``; scripts append the group name to it."""
    return f"{queue_prefix(q)}g:"


def group(q: str, name: str) -> str:
    return f"{group_prefix(q)}{name}"


def aggregation_sets(q: str) -> str:
    return f"{queue_prefix(q)}aggregation_sets"


def state_container(q: str, state: str) -> str:
    """The LIST or ZSET holding tasks of a state (not ``aggregating``: that is per group)."""
    builders = {
        "pending": pending,
        "active": active,
        "scheduled": scheduled,
        "retry": retry,
        "archived": archived,
        "completed": completed,
    }
    return builders[state](q)


def server_identity(host: str, pid: int, server_id: str) -> str:
    return f"{{{host}:{pid}:{server_id}}}"


def server_info(host: str, pid: int, server_id: str) -> str:
    """``asynq:servers:{host:pid:sid}`` (ServerInfo string)."""
    return f"{SERVERS}:{server_identity(host, pid, server_id)}"


def server_workers(host: str, pid: int, server_id: str) -> str:
    """``asynq:workers:{host:pid:sid}`` (hash of WorkerInfo per running task)."""
    return f"{WORKERS}:{server_identity(host, pid, server_id)}"


def scheduler_history(entry_id: str) -> str:
    return f"asynq:scheduler_history:{entry_id}"


def legacy_lookup(task_id: str) -> str:
    """``asynq:t:<id>`` (hash field ``queue``), the reverse lookup that the Go runqy server and
    runqy before issue 12 wrote. runqy neither writes nor reads it; it deletes it with the
    task's other runqy keys so that no copy outlives its task."""
    return f"asynq:t:{task_id}"


def result_mirror(task_id: str) -> str:
    """runqy result mirror ``asynq:result:<id>``."""
    return f"asynq:result:{task_id}"


def runqy_worker(worker_id: str) -> str:
    """runqy worker heartbeat hash ``asynq:workers:<worker_id>`` (no braces)."""
    return f"{WORKERS}:{worker_id}"


def runqy_worker_logs(worker_id: str) -> str:
    return f"{runqy_worker(worker_id)}:logs"


# runqy-layer pub/sub channels (wire-format.md 3.4). Channels are not keys: they live in no
# slot, and nothing in Redis stays behind. The queue's braces allow sharded pub/sub later.


def wake_channel(q: str) -> str:
    """``runqy:wake:{q}``: a task became pending in ``q``; idle workers dequeue at once."""
    return f"runqy:wake:{{{q}}}"


def done_channel(task_id: str) -> str:
    """``runqy:done:<id>``: the task finished an attempt for good (completed, deleted or
    archived); the message is its new state. Waiting clients re-read it at once."""
    return f"runqy:done:{task_id}"


def throughput(q: str, unix: int) -> str:
    """runqy per-minute counters of one queue's UTC hour ``runqy:{q}:throughput:<YYYY-MM-DDTHH>``
    (hash: ``p<MM>`` processed, ``f<MM>`` failed in minute MM); the queue's hash tag keeps it in
    the slot of the queue's asynq keys, so the finishing scripts can bump it."""
    return f"runqy:{{{q}}}:throughput:{_utc_hour(unix // 3600)}"


@functools.lru_cache(maxsize=8)
def _utc_hour(hour: int) -> str:
    """Formatted once per hour (every finish round names the hour's counters)."""
    return f"{datetime.fromtimestamp(hour * 3600, UTC):%Y-%m-%dT%H}"


def task_logs(task_id: str) -> str:
    """runqy per-task log lines ``runqy:task:<id>:logs`` (a capped list with a TTL)."""
    return f"runqy:task:{task_id}:logs"
