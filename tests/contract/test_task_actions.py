"""Admin task actions against real Redis: answers of http-api.md 7.2 and the runqy-key lifetimes
of wire-format.md 7 (result mirror) after each action."""

from __future__ import annotations

from typing import Any

import pytest

from runqy.broker import Broker
from tests.server.conftest import ADMIN

Q = "imgs.default"


def enqueue(client: Any, task_id: str, **options: Any) -> None:
    response = client.post("/queue/add", headers=ADMIN,
                           json={"queue": "imgs", "data": {"n": 1}, "task_id": task_id, **options})
    assert response.status_code == 200, response.json


def complete(client: Any, redis_client: Any, task_id: str, retention: int = 100) -> None:
    """Enqueue and finish a task the way the worker does (dequeue, result, markAsComplete)."""
    enqueue(client, task_id, retention=retention)
    broker = Broker(redis_client)
    taken = broker.dequeue([Q])
    assert taken is not None and taken.msg.id == task_id
    assert broker.set_result(Q, task_id, b'{"ok":1}')
    broker.mark_complete(taken.msg)


def act(client: Any, task_id: str, action: str) -> Any:
    if action == "delete":
        return client.delete(f"/api/queues/{Q}/tasks/{task_id}", headers=ADMIN)
    return client.post(f"/api/queues/{Q}/tasks/{task_id}/{action}", headers=ADMIN)


def test_archiving_an_archived_task_is_a_no_op(client, queue, redis_client):
    enqueue(client, "t1", process_in=600)
    assert act(client, "t1", "archive").status_code == 200
    again = act(client, "t1", "archive")
    assert again.status_code == 200, again.json
    assert again.json == {"task_id": "t1", "state": "archived"}
    assert redis_client.zcard("asynq:{imgs.default}:archived") == 1


def test_batch_archive_counts_already_archived_tasks_as_succeeded(client, queue):
    enqueue(client, "t1")
    assert act(client, "t1", "archive").status_code == 200
    response = client.post(f"/api/queues/{Q}/tasks/batch", headers=ADMIN,
                           json={"action": "archive", "task_ids": ["t1"]})
    assert response.json == {"action": "archive", "succeeded": ["t1"], "failed": []}


@pytest.mark.parametrize("action", ["run", "archive"])
def test_run_or_archive_of_a_completed_task_keeps_it_findable(client, queue, redis_client,
                                                               action):
    complete(client, redis_client, "c1")
    assert act(client, "c1", action).status_code == 200
    assert client.get("/queue/c1", headers=ADMIN).status_code == 200


def test_delete_of_a_completed_task_drops_its_mirror(client, queue, redis_client):
    complete(client, redis_client, "c1")
    assert redis_client.get("asynq:result:c1") == b'{"ok":1}'
    assert act(client, "c1", "delete").status_code == 200
    assert redis_client.exists("asynq:t:c1", "asynq:result:c1", "asynq:{imgs.default}:t:c1") == 0


def test_a_task_deleted_by_a_go_inspector_is_a_404(client, queue, redis_client):
    # A Go inspector deletes hashes without knowing about runqy keys; a lookup the Go runqy
    # server wrote is not trusted.
    enqueue(client, "t1")
    redis_client.hset("asynq:t:t1", "queue", Q)
    redis_client.delete("asynq:{imgs.default}:t:t1")
    redis_client.lrem("asynq:{imgs.default}:pending", 0, "t1")
    response = client.get("/queue/t1", headers=ADMIN)
    assert response.status_code == 404 and response.json["code"] == "task_not_found"


@pytest.mark.parametrize("action", ["delete", "run", "archive"])
def test_actions_on_an_active_task_conflict_and_change_nothing(client, queue, redis_client,
                                                                action):
    enqueue(client, "a1")
    assert Broker(redis_client).dequeue([Q]) is not None
    response = act(client, "a1", action)
    assert response.status_code == 409 and response.json["code"] == "task_state_conflict"
    assert redis_client.hget("asynq:{imgs.default}:t:a1", "state") == b"active"
    assert redis_client.lrange("asynq:{imgs.default}:active", 0, -1) == [b"a1"]
