"""Exceptions raised by the broker layer: one class per failure a caller can act on.

The HTTP layer translates these into status codes in one place; nothing in the broker raises a
bare ``redis.ResponseError`` for a condition listed here.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base class of every broker failure."""


class QueueNotFoundError(BrokerError):
    """The queue is not registered in ``asynq:queues``."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} not found")
        self.queue = queue


class TaskNotFoundError(BrokerError):
    """The task hash does not exist (another actor moved or deleted it)."""

    def __init__(self, queue: str | None, task_id: str) -> None:
        where = f" in queue {queue!r}" if queue else ""
        super().__init__(f"task {task_id!r} not found{where}")
        self.queue = queue
        self.task_id = task_id


class TaskIdConflictError(BrokerError):
    """A task with the same ID already exists in the queue."""

    def __init__(self, queue: str, task_id: str) -> None:
        super().__init__(f"task ID {task_id!r} already exists in queue {queue!r}")
        self.queue = queue
        self.task_id = task_id


class DuplicateTaskError(BrokerError):
    """The uniqueness lock for this type and payload is held by another task."""

    def __init__(self, queue: str, unique_key: str) -> None:
        super().__init__(f"duplicate task: lock {unique_key!r} is held in queue {queue!r}")
        self.queue = queue
        self.unique_key = unique_key


class QueueNotEmptyError(BrokerError):
    """Non-force queue deletion refused: the queue still holds tasks."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} is not empty")
        self.queue = queue


class QueueBusyError(BrokerError):
    """Force queue deletion refused: tasks are being processed."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} has active tasks")
        self.queue = queue


class TaskStateError(BrokerError):
    """The action is not allowed for a task in its current state (``.state``)."""

    def __init__(self, task_id: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} task {task_id!r} in state {state!r}")
        self.task_id = task_id
        self.state = state
        self.action = action


class QueueAlreadyPausedError(BrokerError):
    """``pause_queue`` on a paused queue."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} is already paused")
        self.queue = queue


class QueueNotPausedError(BrokerError):
    """``unpause_queue`` on a queue that is not paused."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} is not paused")
        self.queue = queue


class WorkerNotFoundError(BrokerError):
    """No runqy worker heartbeat with this ID."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(f"worker {worker_id!r} not found")
        self.worker_id = worker_id


class MessageDecodeError(BrokerError):
    """Bytes that are not a valid protobuf message of the expected type."""


class TaskOutcomeUnknownError(BrokerError):
    """The connection dropped before Redis answered: the write may or may not have happened.

    Nothing is retried silently (a blind retry could duplicate the task); look the task up by
    ``task_id`` before trying again.
    """

    def __init__(self, queue: str, task_id: str, cause: BaseException) -> None:
        super().__init__(
            f"connection lost before Redis answered for task {task_id!r} in queue {queue!r}; it "
            f"may or may not have been written ({cause})"
        )
        self.queue = queue
        self.task_id = task_id
