"""runqy's Redis wire layer (asynq v0.26 format plus runqy's own keys).

``Broker`` writes the task life cycle (every state transition is one Lua script), ``Inspector``
reads, ``Admin`` runs the admin writes (queue control and task actions), ``states`` says which
action applies to which task state, ``keys`` names every key, ``codec`` encodes the protobuf
messages.
"""

from runqy.broker import codec, keys, states
from runqy.broker.admin import Admin
from runqy.broker.broker import (
    Broker,
    Dequeued,
    EnqueueRequest,
    EnqueueResult,
    Finish,
    queue_order,
    retry_delay,
)
from runqy.broker.codec import (
    SchedulerEnqueueEvent,
    SchedulerEntry,
    ServerInfo,
    TaskMessage,
    WorkerInfo,
    decode_task,
    encode,
)
from runqy.broker.errors import (
    BrokerError,
    DuplicateTaskError,
    MessageDecodeError,
    QueueAlreadyPausedError,
    QueueBusyError,
    QueueNotEmptyError,
    QueueNotFoundError,
    QueueNotPausedError,
    TaskIdConflictError,
    TaskNotFoundError,
    TaskOutcomeUnknownError,
    TaskStateError,
    WorkerNotFoundError,
)
from runqy.broker.inspector import (
    BatchResult,
    DailyStats,
    Inspector,
    QueueStats,
    ServerRecord,
    TaskInfo,
    WorkerRecord,
)

__all__ = [
    "Admin",
    "BatchResult",
    "Broker",
    "BrokerError",
    "DailyStats",
    "Dequeued",
    "DuplicateTaskError",
    "EnqueueRequest",
    "Finish",
    "EnqueueResult",
    "Inspector",
    "MessageDecodeError",
    "QueueAlreadyPausedError",
    "QueueBusyError",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "QueueNotPausedError",
    "QueueStats",
    "SchedulerEnqueueEvent",
    "SchedulerEntry",
    "ServerInfo",
    "ServerRecord",
    "TaskIdConflictError",
    "TaskInfo",
    "TaskMessage",
    "TaskNotFoundError",
    "TaskOutcomeUnknownError",
    "TaskStateError",
    "WorkerInfo",
    "WorkerNotFoundError",
    "WorkerRecord",
    "codec",
    "decode_task",
    "encode",
    "keys",
    "queue_order",
    "retry_delay",
    "states",
]
