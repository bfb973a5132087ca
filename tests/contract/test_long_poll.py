"""`GET /queue/<id>?wait=true` (http-api.md 5.4) over a real waitress server: it answers as soon
as the task finishes, and a task deleted on success while waiting (retention 0) is a 404."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from runqy.broker import Broker
from tests.contract.live_http import call

Q = "imgs.default"


def finish_when_polled(redis_client, task_id: str, *, retention: int) -> float:
    """Dequeue and finish the task the way a worker does; returns when it finished."""
    broker = Broker(redis_client)
    taken = broker.dequeue([Q])
    assert taken is not None and taken.msg.id == task_id
    assert broker.set_result(Q, task_id, b'{"ok":true}')
    if retention:
        broker.mark_complete(taken.msg)
    else:
        broker.done(taken.msg)
    return time.monotonic()


def test_wait_answers_within_a_second_of_completion(live_server, queue, redis_client):
    status, _ = call(live_server, "POST", "/queue/add",
                     {"queue": "imgs", "data": 1, "task_id": "w1"})
    assert status == 200
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(call, live_server, "GET", "/queue/w1?wait=true&timeout=30")
        finished_at = finish_when_polled(redis_client, "w1", retention=60)
        status, body = waiting.result(30)
    assert time.monotonic() - finished_at < 1.5
    assert status == 200 and body["info"]["state"] == "completed"
    assert body["info"]["result"] == {"ok": True}


def test_a_task_deleted_on_success_while_waiting_is_a_404(live_server, queue, redis_client):
    status, _ = call(live_server, "POST", "/queue/add",
                     {"queue": "imgs", "data": 1, "task_id": "w0", "retention": 0})
    assert status == 200
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(call, live_server, "GET", "/queue/w0?wait=true&timeout=30")
        finish_when_polled(redis_client, "w0", retention=0)
        status, body = waiting.result(30)
    assert status == 404 and body["code"] == "task_not_found"
