"""Idle workers sleep until a runqy enqueue wakes them; a fallback poll finds Go tasks.

A real worker, real task processes and a real redis-server. The fallback poll is made far
longer than the test so that only the wake-up can start the first task.
"""

from __future__ import annotations

import json
import time
import uuid

from runqy.broker import TaskMessage, encode, keys
from tests.worker.harness import enqueue, fast_settings, registration, running_worker
from tests.worker.test_processing import wait_state

Q = "app.default"


def enqueue_like_go(client, queue: str, payload: dict) -> str:
    """What a Go asynq client writes for a task due now: no runqy wake-up, no reverse lookup."""
    task_id = str(uuid.uuid4())
    msg = TaskMessage(type=queue, payload=json.dumps(payload).encode(), id=task_id, queue=queue,
                      retry=3, timeout=1800, retention=3600)
    client.sadd(keys.QUEUES, queue)
    client.hset(keys.task_key(queue, task_id), mapping={
        "msg": encode(msg), "state": "pending", "pending_since": time.time_ns()})
    client.lpush(keys.pending(queue), task_id)
    return task_id


def test_an_enqueue_wakes_an_idle_worker_and_go_tasks_are_still_found(
        redis_server, redis_client, deployment_dir):
    c = redis_client
    asleep = fast_settings(deployment_dir, concurrency=2).with_timings(idle_sleep=600)
    with running_worker(asleep, registration(redis_server.url)):
        first = enqueue(c, Q, {"op": "echo", "value": 1})
        assert json.loads(wait_state(c, first, "completed").result)["echo"] == 1
        # Idle again: a batch wakes it too.
        later = [enqueue(c, Q, {"op": "echo", "value": v}) for v in range(3)]
        for task_id in later:
            wait_state(c, task_id, "completed")
    polling = fast_settings(deployment_dir).with_timings(idle_sleep=0.2)
    with running_worker(polling, registration(redis_server.url)):
        go_task = enqueue_like_go(c, Q, {"op": "echo", "value": "go"})
        assert json.loads(wait_state(c, go_task, "completed").result)["echo"] == "go"
