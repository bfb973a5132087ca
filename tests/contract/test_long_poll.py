"""`GET /queue/<id>?wait=true` (http-api.md 5.4) over a real waitress server: it answers as soon
as the task finishes, and a task deleted on success while waiting (retention 0) is a 404."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from runqy.broker import Broker
from runqy.web.serving import make_server
from tests.contract.live_http import call
from tests.server.conftest import configure
from tests.support.polling import poll_until
from tests.support.waitress_thread import ServingThread

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


def test_waiters_hold_no_server_thread(make_app, redis_client):
    """Twenty long-polls on a server with two threads: other requests are still answered while
    they wait, and each wait answers when its task completes."""

    app = make_app(threads=2)
    configure(app.test_client(), "imgs")
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"], host="127.0.0.1",
                                        port=0))
    server = serving.server
    try:
        ids = [f"p{i}" for i in range(20)]
        for task_id in ids:
            assert call(server, "POST", "/queue/add",
                        {"queue": "imgs", "data": 1, "task_id": task_id})[0] == 200
        watcher = app.extensions["runqy"].waiters.watcher
        with ThreadPoolExecutor(len(ids)) as pool:
            waits = [pool.submit(call, server, "GET", f"/queue/{t}?wait=true&timeout=60")
                     for t in ids]
            poll_until(lambda: watcher.count == len(ids), timeout=10, what="all parked")
            assert call(server, "GET", f"/queue/{ids[0]}")[1]["info"]["state"] == "pending"
            for task_id in ids:
                finish_when_polled(redis_client, task_id, retention=60)
            answers = [w.result(30) for w in waits]
        assert [(status, body["info"]["state"]) for status, body in answers] == \
            [(200, "completed")] * len(ids)
    finally:
        serving.stop()
