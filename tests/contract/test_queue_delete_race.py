"""Ground rule 6 (wire-format.md 1): a queue that holds tasks stays in `asynq:queues`.

Deleting a queue runs its script, then `SREM`s the name (6.5). An enqueue landing between the
two re-adds the name with its own `SADD` and writes a task, and the `SREM` then hides that task
from the asynq CLI, asynqmon and `/api/queues`. The interleaving is forced with a real client
whose `srem` first lets another producer enqueue, on the same real Redis.
"""

from __future__ import annotations

from typing import Any

import redis

from runqy.broker import Admin, Broker
from runqy.broker.codec import TaskMessage

Q = "imgs.default"


def message(payload: bytes) -> TaskMessage:
    return TaskMessage(type=Q, queue=Q, payload=payload)


class EnqueueBeforeSrem(redis.Redis):
    """A real client that lets `producer` enqueue one task just before its first SREM."""

    def __init__(self, producer: Broker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.producer = producer
        self.raced = False

    def srem(self, name: Any, *values: Any) -> Any:
        if not self.raced:
            self.raced = True
            self.producer.enqueue(message(b'{"late":1}'))
        return super().srem(name, *values)


def test_a_task_enqueued_during_a_queue_delete_stays_visible(redis_server, redis_client):
    Broker(redis_client).enqueue(message(b'{"early":1}'))
    racing = EnqueueBeforeSrem(Broker(redis_client), port=redis_server.port)
    Admin(racing).delete_queue(Q, force=True)
    assert racing.raced
    assert redis_client.llen(f"asynq:{{{Q}}}:pending") == 1
    assert redis_client.sismember("asynq:queues", Q)


def test_a_deleted_queue_without_late_tasks_leaves_the_queue_set(redis_server, redis_client):
    Broker(redis_client).enqueue(message(b'{"early":1}'))
    Admin(redis_client).delete_queue(Q, force=True)
    assert not redis_client.sismember("asynq:queues", Q)
    assert not redis_client.keys(f"asynq:{{{Q}}}:*")
