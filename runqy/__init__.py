"""runqy: a Redis-backed distributed task queue, wire-compatible with asynq v0.26.

The top-level names are the SDK (worker-protocol.md section 9): task code writes
`from runqy import task, run`, clients use `RunqyClient`.
"""

__version__ = "0.3.0"

from runqy.sdk import (  # noqa: E402 - __version__ first so the SDK may read it
    AuthenticationError,
    BatchResult,
    PermanentError,
    QueueNotFoundError,
    RetryableError,
    RunqyClient,
    RunqyError,
    TaskContext,
    TaskInfo,
    TaskNotFoundError,
    current_task,
    enqueue,
    load,
    run,
    run_once,
    task,
)

__all__ = [
    "AuthenticationError", "BatchResult", "PermanentError", "QueueNotFoundError",
    "RetryableError", "RunqyClient", "RunqyError", "TaskContext", "TaskInfo",
    "TaskNotFoundError", "__version__", "current_task", "enqueue", "load", "run", "run_once",
    "task",
]
