"""Concurrent clients against a real waitress server: the atomic steps of wire-format.md 6.1
and 6.5 must hold when requests race (one winner per task ID or unique lock, idempotent pause,
no dangling IDs and no task outside the queue set after a queue delete)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.contract.live_http import call

Q = "imgs.default"
RACERS = 8


def race(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run `action(i)` for i in range(count) on threads released together."""
    barrier = threading.Barrier(count)

    def start(i: int) -> Any:
        barrier.wait(10)
        return action(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def assert_no_dangling_ids(redis_client: Any, queue: str) -> None:
    """Ground rule 5: every ID in a state container has its task hash."""
    ids = redis_client.lrange(f"asynq:{{{queue}}}:pending", 0, -1)
    ids += redis_client.lrange(f"asynq:{{{queue}}}:active", 0, -1)
    for state in ("scheduled", "retry", "archived", "completed", "lease"):
        ids += redis_client.zrange(f"asynq:{{{queue}}}:{state}", 0, -1)
    for task_id in ids:
        assert redis_client.exists(f"asynq:{{{queue}}}:t:{task_id.decode()}"), task_id


def test_one_winner_when_clients_race_for_the_same_task_id(live_server, queue, redis_client):
    results = race(RACERS, lambda i: call(live_server, "POST", "/queue/add",
                                         {"queue": "imgs", "data": {"i": i}, "task_id": "same"}))
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: RACERS - 1}, results
    assert {body["code"] for status, body in results if status == 409} == {"task_id_conflict"}
    winner = next(body for status, body in results if status == 200)
    assert redis_client.lrange(f"asynq:{{{Q}}}:pending", 0, -1) == [b"same"]
    status, body = call(live_server, "GET", "/queue/same")
    assert status == 200 and body["info"]["payload"] == winner["data"]


def test_one_winner_when_clients_race_for_a_unique_lock(live_server, queue, redis_client):
    results = race(RACERS, lambda i: call(live_server, "POST", "/queue/add",
                                         {"queue": "imgs", "data": {"same": 1}, "unique_ttl": 60}))
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: RACERS - 1}, results
    assert {body["code"] for status, body in results if status == 409} == {"duplicate_task"}
    winner = next(body["info"]["id"] for status, body in results if status == 200)
    locks = redis_client.keys(f"asynq:{{{Q}}}:unique:*")
    assert len(locks) == 1 and redis_client.get(locks[0]) == winner.encode()
    assert redis_client.lrange(f"asynq:{{{Q}}}:pending", 0, -1) == [winner.encode()]
    # losers' generated IDs leave no task hash behind, and no task has a second key
    assert redis_client.keys(f"asynq:{{{Q}}}:t:*") == [f"asynq:{{{Q}}}:t:{winner}".encode()]
    assert redis_client.keys("asynq:t:*") == []


def test_concurrent_pause_and_unpause_are_idempotent(live_server, queue, redis_client):
    results = race(RACERS, lambda i: call(live_server, "POST", f"/api/queues/{Q}/pause"))
    assert all(r == (200, {"queue": Q, "paused": True}) for r in results), results
    assert redis_client.exists(f"asynq:{{{Q}}}:paused")
    results = race(RACERS, lambda i: call(live_server, "POST", f"/api/queues/{Q}/unpause"))
    assert all(r == (200, {"queue": Q, "paused": False}) for r in results), results
    assert not redis_client.exists(f"asynq:{{{Q}}}:paused")


def test_queue_delete_while_enqueueing_leaves_no_dangling_or_hidden_task(live_server, queue,
                                                                          redis_client):
    for i in range(20):
        call(live_server, "POST", "/queue/add", {"queue": "imgs", "data": {"seed": i}})

    def act(i: int) -> tuple[int, dict[str, Any]]:
        if i == 0:
            return call(live_server, "DELETE", f"/api/queues/{Q}?force=true")
        return call(live_server, "POST", "/queue/add", {"queue": "imgs", "data": {"i": i}})

    results = race(RACERS, act)
    assert results[0][0] == 200, results[0]
    assert all(status in (200, 404) for status, _ in results[1:]), results
    assert_no_dangling_ids(redis_client, Q)
    # Ground rule 6: a queue that holds tasks is in asynq:queues, or asynq tools cannot see them.
    if redis_client.llen(f"asynq:{{{Q}}}:pending"):
        assert redis_client.sismember("asynq:queues", Q)
