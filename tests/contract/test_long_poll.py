"""`GET /queue/<id>?wait=true` (http-api.md 5.4) over a real waitress server: it answers as soon
as the task finishes, and a task deleted on success while waiting (retention 0) is a 404."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from runqy.broker import Broker, done_watch
from runqy.web.serving import make_server
from runqy.web.state import state_of
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


@pytest.fixture()
def parked(app, live_server, queue) -> Callable[..., AbstractContextManager[Future]]:
    """`parked(task_id, **fields)`: enqueue the task on `queue` with `fields`, then hold its
    parked `?wait=true` request (a Future of its answer) for the `with` block."""

    @contextmanager
    def enqueue_and_wait(task_id: str, **fields: Any) -> Iterator[Future]:
        status, body = call(live_server, "POST", "/queue/add",
                            {"queue": "imgs", "data": 1, "task_id": task_id, **fields})
        assert status == 200, body
        with ThreadPoolExecutor(1) as pool:
            yield parked_wait(pool, app, live_server, task_id)

    return enqueue_and_wait


def test_wait_answers_when_the_task_completes(parked, redis_client, no_fallback_read):
    with parked("w1") as waiting:
        finish_when_polled(redis_client, "w1", retention=60)
        status, body = waiting.result(30)
    assert status == 200 and body["info"]["state"] == "completed"
    assert body["info"]["result"] == {"ok": True}


def test_a_task_deleted_on_success_while_waiting_is_a_404(parked, redis_client,
                                                         no_fallback_read):
    with parked("w0", retention=0) as waiting:
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


def test_a_finish_without_a_done_message_is_seen_by_the_fallback_read(parked, redis_client,
                                                                      monkeypatch):
    """Go workers publish nothing: the waiter's periodic re-read still returns the task."""
    monkeypatch.setattr(done_watch, "FALLBACK_SECONDS", 0.1)  # re-read sooner than 1 s
    from runqy.broker import keys

    with parked("go1") as waiting:
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


def test_a_stopped_server_leaves_no_done_watcher_thread(make_app, redis_client):
    """The long-polls' listener belongs to the app: closed with it when its server stops (the
    way `runqy serve` and the test fixtures end), not left polling Redis for the process's
    life, one more with every app."""
    app = make_app()
    configure(app.test_client(), "imgs")
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"], host="127.0.0.1",
                                        port=0))
    try:
        assert call(serving.server, "POST", "/queue/add",
                    {"queue": "imgs", "data": 1, "task_id": "t1"})[0] == 200
        finish_when_polled(redis_client, "t1", retention=60)
        # A wait subscribes before it reads, so even one answered at once starts the listener.
        assert call(serving.server, "GET", "/queue/t1?wait=true&timeout=5")[0] == 200
        assert done_watcher_threads(), "the wait started no listener: nothing to check"
    finally:
        serving.stop()
    state_of(app).close()
    assert done_watcher_threads() == []


def done_watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "done-watcher" and t.is_alive()]


def test_a_parked_wait_is_logged_and_counted_once_for_its_whole_wait(parked, app, redis_client,
                                                                      no_fallback_read, caplog):
    """A parked request runs several times but is one request: one access-log line and one
    request-metrics sample (the answer sent), timed from its arrival, not from its last run."""
    caplog.set_level(logging.INFO, logger="runqy.web.access")
    registry = state_of(app).metrics_registry

    def get_200s() -> float:
        return registry.get_sample_value("flask_http_request_total",
                                         {"method": "GET", "status": "200"}) or 0.0

    before = get_200s()
    with parked("w-logged") as waiting:
        time.sleep(0.2)  # the task finishes a while after the client began to wait
        finish_when_polled(redis_client, "w-logged", retention=60)
        status, _ = waiting.result(30)
    assert status == 200
    lines = [r.getMessage() for r in caplog.records
             if r.name == "runqy.web.access" and "GET /queue/w-logged" in r.getMessage()]
    assert len(lines) == 1 and " 200 " in lines[0], lines
    assert float(lines[0].split(" 200 ")[1].split("ms")[0]) >= 200  # arrived before the 0.2 s
    assert get_200s() - before == 1
