"""The admin writes of the Redis wire layer: queue control and the inspector actions on tasks
(wire-format.md 6.5 and 6.6, http-api.md 7.2).

Which action applies to which state is ``states.TASK_ACTIONS`` / ``states.BULK_ACTIONS``; the
scripts enforce the same rules atomically. Queues not registered in ``asynq:queues`` raise
QueueNotFoundError for every task action.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import redis

from runqy.broker import keys
from runqy.broker.broker import ARCHIVE_CAP, ARCHIVE_MAX_AGE, drop_runqy_keys, wake
from runqy.broker.errors import (
    BrokerError,
    QueueAlreadyPausedError,
    QueueBusyError,
    QueueNotEmptyError,
    QueueNotPausedError,
    TaskNotFoundError,
    TaskStateError,
)
from runqy.broker.inspector import BatchResult, Inspector, queue_keys, text
from runqy.broker.scripts import run
from runqy.broker.states import LIST_STATES, bulk_states

BULK_CHUNK = 500  # task IDs per bulk-action script call


class Admin:
    """Admin writes against one Redis (``decode_responses=False``)."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client
        self.inspector = Inspector(redis_client)

    def register_queues(self, names: Iterable[str]) -> None:
        """Add queues to ``asynq:queues`` (as an enqueue would), so asynq tools list them."""
        names = list(names)
        if names:
            self.redis.sadd(keys.QUEUES, *names)

    # -- queues --------------------------------------------------------------------------------

    def pause_queue(self, q: str) -> None:
        if not self.redis.set(keys.paused(q), int(time.time()), nx=True):
            raise QueueAlreadyPausedError(q)

    def unpause_queue(self, q: str) -> None:
        if not self.redis.delete(keys.paused(q)):
            raise QueueNotPausedError(q)
        wake(self.redis, q)  # idle workers skipped it while paused

    def delete_queue(self, q: str, force: bool = False) -> None:
        """Delete a queue: refused when not empty (or, with force, when tasks are active)."""
        self.inspector.require_queue(q)
        try:
            deleted = run(
                self.redis,
                "delete_queue",
                [
                    keys.pending(q),
                    keys.active(q),
                    keys.scheduled(q),
                    keys.retry(q),
                    keys.archived(q),
                    keys.lease(q),
                ],
                [int(force), keys.task_key_prefix(q)],
            )
        except redis.ResponseError as exc:
            if "QUEUE BUSY" in str(exc):
                raise QueueBusyError(q) from exc
            if "QUEUE NOT EMPTY" in str(exc):
                raise QueueNotEmptyError(q) from exc
            raise
        self.redis.srem(keys.QUEUES, q)
        # An enqueue that landed between the script and the SREM ran its own SADD first; put
        # the name back so its task stays visible to asynq tools (ground rule 6).
        if self.redis.exists(keys.pending(q), keys.active(q), keys.scheduled(q), keys.retry(q),
                             keys.archived(q)):
            self.redis.sadd(keys.QUEUES, q)
        drop_runqy_keys(self.redis, [text(i) for i in deleted])


    # -- single-task actions ------------------------------------------------------------------

    def _task_action(self, script: str, q: str, task_id: str, extra: Sequence[Any] = ()) -> str:
        self.inspector.require_queue(q)
        try:
            previous = run(
                self.redis,
                script,
                [keys.task_key(q, task_id), *queue_keys(q)],
                [task_id, keys.group_prefix(q), *extra],
            )
        except redis.ResponseError as exc:
            message = str(exc)
            if message.startswith("NOT FOUND"):
                raise TaskNotFoundError(q, task_id) from exc
            if message.startswith("WRONG STATE "):
                state = message.removeprefix("WRONG STATE ")
                raise TaskStateError(task_id, state, script.removesuffix("_task")) from exc
            raise
        return text(previous)

    def delete_task(self, q: str, task_id: str) -> None:
        """Delete a task in any state but active, with its lock and runqy keys."""
        self._task_action("delete_task", q, task_id)
        drop_runqy_keys(self.redis, [task_id])

    def run_task(self, q: str, task_id: str) -> None:
        """Move a scheduled, retry, archived, completed or aggregating task to pending."""
        self._task_action("run_task", q, task_id)
        wake(self.redis, q)

    def archive_task(self, q: str, task_id: str) -> None:
        """Archive a task that is not active nor already archived."""
        now = int(time.time())
        extra = [now, now - ARCHIVE_MAX_AGE, ARCHIVE_CAP, keys.task_key_prefix(q)]
        self._task_action("archive_task", q, task_id, extra)

    def cancel_task(self, q: str, task_id: str) -> None:
        """Publish a cancel for an active task (TaskStateError otherwise)."""
        self.inspector.require_queue(q)
        state = self.redis.hget(keys.task_key(q, task_id), "state")
        if state is None:
            raise TaskNotFoundError(q, task_id)
        if state != b"active":
            raise TaskStateError(task_id, text(state), "cancel")
        self.redis.publish(keys.CANCEL_CHANNEL, task_id)

    # -- bulk actions -------------------------------------------------------------------------

    def _containers(self, q: str, state: str, group: str | None, action: str):
        """(container key, kind, group name) for each container a bulk action covers."""
        self.inspector.require_queue(q)
        if state not in bulk_states(action):
            raise ValueError(f"{action} does not apply in bulk to state {state!r}")
        if state != "aggregating":
            kind = "list" if state in LIST_STATES else "zset"
            return [(keys.state_container(q, state), kind, "")]
        names = [group] if group is not None else self.inspector.groups(q)
        return [(keys.group(q, name), "group", name) for name in names]

    def _in_chunks(self, script: str, script_keys: list[str], args: list[Any],
                   taken: Callable[[Any], int]) -> Iterator[Any]:
        """Call a bulk script until it takes less than a whole chunk (http-api.md 7.2: chunks of
        ``BULK_CHUNK`` so that Redis is never blocked for long); yields every reply."""
        while True:
            reply = run(self.redis, script, script_keys, [*args, BULK_CHUNK])
            yield reply
            if taken(reply) < BULK_CHUNK:
                return

    def delete_all(self, q: str, state: str, group: str | None = None) -> int:
        """Delete every task in a state (or one group, or all groups); returns the count."""
        deleted: list[str] = []
        for container, kind, name in self._containers(q, state, group, "delete"):
            for ids in self._in_chunks("delete_all", [container, keys.groups(q)],
                                       [kind, keys.task_key_prefix(q), name], len):
                deleted += [text(i) for i in ids]
        drop_runqy_keys(self.redis, deleted)
        return len(deleted)

    def run_all(self, q: str, state: str, group: str | None = None) -> int:
        """Move every scheduled, retry, archived or aggregating task to pending."""
        moved = sum(
            count
            for container, kind, name in self._containers(q, state, group, "run")
            for count, _ in self._in_chunks(
                "run_all", [container, keys.pending(q), keys.groups(q)],
                [kind, keys.task_key_prefix(q), name], lambda reply: reply[1])
        )
        if moved:
            wake(self.redis, q)
        return moved

    def archive_all(self, q: str, state: str, group: str | None = None) -> int:
        """Archive every pending, scheduled, retry or aggregating task."""
        now = int(time.time())
        return sum(
            moved
            for container, kind, name in self._containers(q, state, group, "archive")
            for moved, _ in self._in_chunks(
                "archive_all", [container, keys.archived(q), keys.groups(q)],
                [kind, keys.task_key_prefix(q), name, now, now - ARCHIVE_MAX_AGE, ARCHIVE_CAP],
                lambda reply: reply[1])
        )

    def cancel_all(self, q: str) -> int:
        """Publish a cancel for every active task; returns how many were published."""
        self.inspector.require_queue(q)
        published, start, page = 0, 0, 100
        while True:
            ids = self.redis.lrange(keys.active(q), start, start + page - 1)
            for task_id in ids:
                self.redis.publish(keys.CANCEL_CHANNEL, task_id)
            published += len(ids)
            if len(ids) < page:
                return published
            start += page

    def batch(self, q: str, action: str, ids: Sequence[str]) -> BatchResult:
        """Apply ``delete``/``run``/``archive``/``cancel`` to each ID; per-ID outcome."""
        actions: dict[str, Callable[[str, str], None]] = {
            "delete": self.delete_task,
            "run": self.run_task,
            "archive": self.archive_task,
            "cancel": self.cancel_task,
        }
        if action not in actions:
            raise ValueError(f"unknown batch action {action!r}")
        self.inspector.require_queue(q)
        result = BatchResult()
        for task_id in ids:
            try:
                actions[action](q, task_id)
            except BrokerError as exc:
                result.failed[task_id] = str(exc)
            else:
                result.succeeded.append(task_id)
        return result
