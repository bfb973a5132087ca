"""The read side of the Redis wire layer and the inspector actions (wire-format.md 6.6, 7, 8.3).

Used by the HTTP API, the dashboard, the CLI and the metrics exporter. Queues not registered in
``asynq:queues`` raise QueueNotFoundError for every read and task action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from runqy.broker.codec import ServerInfo, TaskMessage, WorkerInfo
from runqy.broker.errors import BrokerError


@dataclass(frozen=True)
class QueueStats:
    queue: str
    size: int
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    aggregating: int
    groups: int
    processed: int  # today (UTC)
    failed: int  # today (UTC)
    processed_total: int
    failed_total: int
    paused: bool
    latency_seconds: float
    memory_bytes: int | None  # None when MEMORY USAGE is refused


@dataclass(frozen=True)
class DailyStats:
    date: str  # YYYY-MM-DD, UTC
    processed: int
    failed: int

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed


@dataclass(frozen=True)
class TaskInfo:
    id: str
    queue: str
    type: str
    state: str
    payload: bytes
    result: bytes | None
    max_retry: int
    retried: int
    error_msg: str
    last_failed_at: int
    completed_at: int
    timeout: int
    deadline: int
    retention: int
    group: str
    next_process_at: int | None
    is_orphaned: bool
    msg: TaskMessage


@dataclass(frozen=True)
class BatchResult:
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # task ID -> error text


@dataclass(frozen=True)
class ServerRecord:
    """One asynq server (Go or a runqy worker's asynq-native identity) and its running tasks."""

    host: str
    pid: int
    server_id: str
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    status: str
    started_at: int
    active_worker_count: int
    workers: list[WorkerInfo]
    info: ServerInfo


@dataclass(frozen=True)
class WorkerRecord:
    """A runqy worker heartbeat (8.2), or an original Go runqy worker's hash (``original``)."""

    worker_id: str
    fields: dict[str, str]
    last_beat: int
    stale: bool
    healthy: bool
    status: str
    queues: list[str]
    active_tasks: list[str]
    concurrency: int | None
    started_at: int | None
    metrics: dict[str, Any]
    recovery: dict[str, Any]
    original: bool

    @property
    def processing(self) -> bool:
        return bool(self.active_tasks)


class Inspector:
    """Reads and inspector actions against one Redis (``decode_responses=False``)."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client

    def queue_names(self) -> list[str]:
        """Every queue in ``asynq:queues``, sorted."""
        raise NotImplementedError

    def queue_stats(self, q: str) -> QueueStats:
        raise NotImplementedError

    def all_queue_stats(self) -> list[QueueStats | BrokerError]:
        """Stats of every queue; one failing queue yields its error, not a failed list."""
        raise NotImplementedError

    def history(self, q: str, days: int) -> list[DailyStats]:
        """Daily processed/failed for the last ``days`` UTC days, newest first."""
        raise NotImplementedError

    def list_tasks(
        self, q: str, state: str, page: int = 1, size: int = 20, group: str | None = None
    ) -> list[TaskInfo]:
        """One page (1-based) of tasks in a state, in asynq order; cost independent of page."""
        raise NotImplementedError

    def get_task(self, q: str, task_id: str) -> TaskInfo:
        raise NotImplementedError

    def find_task(self, task_id: str) -> TaskInfo:
        """Locate a task by ID alone: reverse lookup first, then probing every queue."""
        raise NotImplementedError

    def delete_task(self, q: str, task_id: str) -> None:
        raise NotImplementedError

    def run_task(self, q: str, task_id: str) -> None:
        raise NotImplementedError

    def archive_task(self, q: str, task_id: str) -> None:
        raise NotImplementedError

    def cancel_task(self, q: str, task_id: str) -> None:
        """Publish a cancel for an active task (TaskStateError otherwise)."""
        raise NotImplementedError

    def delete_all(self, q: str, state: str, group: str | None = None) -> int:
        raise NotImplementedError

    def run_all(self, q: str, state: str, group: str | None = None) -> int:
        raise NotImplementedError

    def archive_all(self, q: str, state: str, group: str | None = None) -> int:
        raise NotImplementedError

    def cancel_all(self, q: str) -> int:
        raise NotImplementedError

    def batch(self, q: str, action: str, ids: Sequence[str]) -> BatchResult:
        """Apply ``delete``/``run``/``archive``/``cancel`` to each ID; per-ID outcome."""
        raise NotImplementedError

    def servers(self) -> list[ServerRecord]:
        raise NotImplementedError

    def runqy_workers(self) -> list[WorkerRecord]:
        raise NotImplementedError

    def runqy_worker(self, worker_id: str) -> WorkerRecord:
        raise NotImplementedError

    def worker_logs(self, worker_id: str, limit: int = 200) -> list[dict]:
        raise NotImplementedError
