"""The runqy SDK: task-side helpers and the HTTP client (worker-protocol.md section 9)."""

from runqy.sdk.client import (
    AuthenticationError,
    BatchResult,
    QueueNotFoundError,
    RunqyClient,
    RunqyError,
    TaskInfo,
    TaskNotFoundError,
    enqueue,
)
from runqy.sdk.runtime import (
    PermanentError,
    RetryableError,
    TaskContext,
    current_task,
    load,
    run,
    run_once,
    task,
)

__all__ = [
    "AuthenticationError", "BatchResult", "PermanentError", "QueueNotFoundError",
    "RetryableError", "RunqyClient", "RunqyError", "TaskContext", "TaskInfo",
    "TaskNotFoundError", "current_task", "enqueue", "load", "run", "run_once", "task",
]
