"""`GET /queue/<id>?wait=true` (http-api.md 5.4) over a real waitress server: it answers as soon
as the task finishes, and a task deleted on success while waiting (retention 0) is a 404."""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from runqy.broker import Broker, done_watch
from runqy.web.serving import make_server
from tests.contract.live_http import call
from tests.server.conftest import ADMIN_KEY, configure
from tests.support.polling import poll_until
from tests.support.waitress_thread import ServingThread

Q = "imgs.default"


def finish_when_polled(redis_client, task_id: str, *, retention: int) -> None:
    """Dequeue and finish the task the way a worker does."""
    broker = Broker(redis_client)
    taken = broker.dequeue([Q])
    assert taken is not None and taken.msg.id == task_id
    assert broker.set_result(Q, task_id, b'{"ok":true}')
    if retention:
        broker.mark_complete(taken.msg)
    else:
        broker.done(taken.msg)


@pytest.fixture()
def no_fallback_read(monkeypatch):
    """The waiters' periodic re-read pushed past the tests' 20 s waits: only the task's done
    message can answer them before their deadline (a 408), whatever the machine's load."""
    monkeypatch.setattr(done_watch, "FALLBACK_SECONDS", 3600)


def parked_wait(pool: ThreadPoolExecutor, app, server, task_id: str) -> Future:
    """`GET /queue/<task_id>?wait=true` from `pool`, once it is parked on the server (so the
    task finishes while it waits, not before it asks)."""
    waiting = pool.submit(call, server, "GET", f"/queue/{task_id}?wait=true&timeout=20")
    watcher = app.extensions["runqy"].waiters.watcher
    poll_until(lambda: watcher.count == 1, timeout=10, what="the wait parked")
    return waiting


def test_wait_answers_when_the_task_completes(app, live_server, queue, redis_client,
                                              no_fallback_read):
    status, _ = call(live_server, "POST", "/queue/add",
                     {"queue": "imgs", "data": 1, "task_id": "w1"})
    assert status == 200
    with ThreadPoolExecutor(1) as pool:
        waiting = parked_wait(pool, app, live_server, "w1")
        finish_when_polled(redis_client, "w1", retention=60)
        status, body = waiting.result(30)
    assert status == 200 and body["info"]["state"] == "completed"
    assert body["info"]["result"] == {"ok": True}


def test_a_task_deleted_on_success_while_waiting_is_a_404(app, live_server, queue, redis_client,
                                                         no_fallback_read):
    status, _ = call(live_server, "POST", "/queue/add",
                     {"queue": "imgs", "data": 1, "task_id": "w0", "retention": 0})
    assert status == 200
    with ThreadPoolExecutor(1) as pool:
        waiting = parked_wait(pool, app, live_server, "w0")
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
            poll_until(lambda: watcher.count == len(ids), timeout=30, what="all parked")
            assert call(server, "GET", f"/queue/{ids[0]}")[1]["info"]["state"] == "pending"
            for task_id in ids:
                finish_when_polled(redis_client, task_id, retention=60)
            answers = [w.result(30) for w in waits]
        assert [(status, body["info"]["state"]) for status, body in answers] == \
            [(200, "completed")] * len(ids)
    finally:
        serving.stop()


def test_a_parked_wait_times_out_with_408_and_its_connection_serves_again(live_server, queue):
    """The deadline of a parked long-poll: 408 wait_timeout, and the same keep-alive
    connection then answers the next request."""
    status, _ = call(live_server, "POST", "/queue/add",
                     {"queue": "imgs", "data": 1, "task_id": "late"})
    assert status == 200
    connection = http.client.HTTPConnection("127.0.0.1", live_server.effective_port, timeout=30)
    try:
        for path, expected in (("/queue/late?wait=true&timeout=1", 408), ("/queue/late", 200)):
            connection.request("GET", path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == expected, body
        assert body["info"]["state"] == "pending"
    finally:
        connection.close()


def test_a_finish_without_a_done_message_is_seen_by_the_fallback_read(app, live_server, queue,
                                                                      redis_client):
    """Go workers publish nothing: the waiter's periodic re-read still returns the task."""
    from runqy.broker import keys

    status, _ = call(live_server, "POST", "/queue/add",
                     {"queue": "imgs", "data": 1, "task_id": "go1"})
    assert status == 200
    with ThreadPoolExecutor(1) as pool:
        waiting = parked_wait(pool, app, live_server, "go1")
        taken = Broker(redis_client).dequeue([Q])
        # What a Go server's markAsComplete leaves (no runqy:done message).
        pipe = redis_client.pipeline()
        pipe.lrem(keys.active(Q), 0, "go1")
        pipe.zrem(keys.lease(Q), "go1")
        pipe.zadd(keys.completed(Q), {"go1": int(time.time()) + 60})
        pipe.hset(keys.task_key(Q, "go1"), "state", "completed")
        pipe.execute()
        status, body = waiting.result(30)
    assert taken is not None and status == 200 and body["info"]["state"] == "completed"
