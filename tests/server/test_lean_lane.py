"""The lean lane (runqy.web.waitress_lane): `POST /queue/add` answered by one thread of its own
inside `runqy serve`'s waitress, adds that are ready together enqueued in one pipeline. Over
real HTTP, its answers equal those of the thread-pool path; what it does not take (a queue not
in the cache, a large body, a key without the role) and what fails on it (bad JSON, a rejected
job, Redis down or not answering) are answered as Flask answers them; the main loop never
waits for it. `GET /queue/<id>` likewise, the ready reads batched."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from runqy.web.serving import make_server
from runqy.web.waitress_lane import LANE_MAX_BODY
from tests.metrics.test_metrics_endpoint import scrape
from tests.server.conftest import CLIENT, WORKER, configure
from tests.support.polling import poll_until
from tests.support.redis_server import RedisServer
from tests.support.waitress_thread import ServingThread

LANE = "runqy-lean-lane"
BODY = {"queue": "imgs", "data": {"prompt": "a cat", "n": 1}}
VARYING = {"x-request-id", "date"}


def post(port: int, body: Any, path: str = "/queue/add", **headers: str
         ) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, raw, {"Content-Type": "application/json", **CLIENT, **headers})
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}  # names are case-blind
        return response.status, headers, json.loads(response.read())
    finally:
        conn.close()


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A GET's status, headers (names lower-cased) and raw body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={**CLIENT, **headers})
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


def same_but_varying(answer: tuple[int, dict[str, str], bytes]) -> tuple[Any, ...]:
    status, headers, body = answer
    return status, {k: v for k, v in headers.items() if k not in VARYING}, body


def comparable(answer: tuple[int, dict[str, str], dict[str, Any]]) -> tuple[Any, ...]:
    """Status, headers but the varying ones, and the JSON without the new task's ID and time."""
    status, headers, body = answer
    info = dict(body.get("info", {}))
    info.pop("id", None)
    info.pop("next_process_at", None)
    return status, {k: v for k, v in headers.items() if k not in VARYING}, {**body, "info": info}


def threads_of(caplog: pytest.LogCaptureFixture, marker: str) -> list[str]:
    """The threads that wrote the access-log lines containing `marker`."""
    return [r.threadName for r in caplog.records
            if r.name == "runqy.web.access" and marker in r.getMessage()]


@pytest.fixture()
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="runqy.web.access")
    return caplog


@pytest.fixture()
def port(app, live_server) -> int:
    configure(app.test_client(), "imgs")
    return live_server.effective_port


def test_lane_answers_equal_the_thread_pools(app, port, access_log, redis_client):
    # The first add after the configuration misses the queue cache: the pool serves it (the
    # lane never reads the database) and fills the cache for the lane.
    first = post(port, BODY, **{"X-Request-ID": "req-first"})
    lane = post(port, BODY, **{"X-Request-ID": "req-lane"})
    pool = post(port, BODY, "/queue/add?via=pool", **{"X-Request-ID": "req-pool"})
    assert lane[0] == 200 and lane[1]["x-request-id"] == "req-lane"
    assert comparable(lane) == comparable(pool) == comparable(first)
    assert lane[1]["server"] == "runqy" and lane[1]["cache-control"] == "no-store"
    assert threads_of(access_log, "req-lane") == [LANE]
    assert LANE not in threads_of(access_log, "req-first") + threads_of(access_log, "req-pool")
    assert redis_client.llen("asynq:{imgs.default}:pending") == 3
    counts = scrape(app.test_client(), **CLIENT).values("flask_http_request_duration_seconds_count")
    assert counts[frozenset({"method": "POST", "url_rule": "/queue/add",
                             "status": "200"}.items())] == 3


def test_failures_on_the_lane_are_answered_by_flask(port, access_log, redis_client):
    post(port, BODY)  # the queue is now cached: what follows reaches the lane
    for path in ("/queue/add", "/queue/add?via=pool"):
        bad = post(port, b"{not json", path, **{"X-Request-ID": "req-bad"})
        assert (bad[0], bad[2]["code"], bad[1]["x-request-id"]) == (400, "invalid_json",
                                                                    "req-bad")
        assert bad[1]["x-content-type-options"] == "nosniff"
        rejected = post(port, {**BODY, "timeout": "soon"}, path)
        assert (rejected[0], rejected[2]["code"]) == (400, "invalid_request")
        missing = post(port, {"queue": "nope", "data": {}}, path)
        assert (missing[0], missing[2]["code"]) == (404, "queue_not_found")
    taken = post(port, {**BODY, "task_id": "mine"})
    again = post(port, {**BODY, "task_id": "mine"})
    assert (taken[0], again[0], again[2]["code"]) == (200, 409, "task_id_conflict")
    assert comparable(again) == comparable(post(port, {**BODY, "task_id": "mine"},
                                                "/queue/add?via=pool"))
    assert post(port, BODY, Authorization="Bearer nope")[0] == 401
    assert post(port, BODY, **WORKER)[0] == 403
    assert redis_client.llen("asynq:{imgs.default}:pending") == 2  # nothing else written


def test_large_bodies_go_to_the_pool_and_over_the_limit_to_flask(app, port, access_log):
    post(port, BODY)
    big = {"queue": "imgs", "data": {"blob": "x" * LANE_MAX_BODY}}
    status, headers, body = post(port, big, **{"X-Request-ID": "req-big"})
    assert status == 200 and body["data"] == big["data"]
    assert threads_of(access_log, "req-big") and LANE not in threads_of(access_log, "req-big")
    limit = app.config["MAX_CONTENT_LENGTH"]
    over = post(port, {"queue": "imgs", "data": {"blob": "x" * limit}})
    assert over[0] == 413


def responses(sock: socket.socket) -> list[tuple[bytes, dict[str, str], bytes]]:
    """Every response read until the server closes: (status line, headers, body)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    found = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, value in
                   (line.split(": ", 1) for line in lines)}
        length = int(headers["content-length"])
        found.append((status.encode(), headers, data[:length]))
        data = data[length:]
    return found


def raw_post(body: bytes, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"POST /queue/add HTTP/{version}", "Host: runqy", "Content-Type: application/json",
             f"Authorization: {CLIENT['Authorization']}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_pipelined_requests_on_one_connection_are_answered_in_order(port, redis_client):
    post(port, BODY)
    good = json.dumps(BODY).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw_post(good, "X-Request-ID: one")
                     + b"GET /health HTTP/1.1\r\nHost: runqy\r\n\r\n"
                     + raw_post(b"{not json", "X-Request-ID: two")
                     + raw_post(good, "X-Request-ID: three")
                     + raw_post(good, "X-Request-ID: four", "Connection: close"))
        got = responses(sock)
    assert [status for status, _, _ in got] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK",
                                                b"HTTP/1.1 400 BAD REQUEST",
                                                b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK"]
    ids = [headers["x-request-id"] for _, headers, _ in got]
    assert ids[:1] + ids[2:] == ["one", "two", "three", "four"]
    assert json.loads(got[1][2])["status"] == "ok"
    assert got[-1][1]["connection"] == "close"
    assert json.loads(got[0][2])["data"] == BODY["data"]
    assert redis_client.llen("asynq:{imgs.default}:pending") == 4


def test_http_1_0_keep_alive_is_waitresss(port):
    post(port, BODY)
    good = json.dumps(BODY).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw_post(good, "Connection: keep-alive", version="1.0")
                     + raw_post(good, version="1.0"))
        got = responses(sock)  # the second one closes the connection
    assert [status for status, _, _ in got] == [b"HTTP/1.0 200 OK"] * 2
    assert got[0][1]["connection"] == "Keep-Alive" and got[1][1]["connection"] == "close"


def test_concurrent_adds_each_get_their_own_answer(port, redis_client):
    post(port, BODY)

    def add(n: int) -> tuple[int, str, Any]:
        status, headers, body = post(port, {"queue": "imgs", "data": {"n": n}},
                                     **{"X-Request-ID": f"req-{n}"})
        return status, headers["x-request-id"], body["data"]["n"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(add, range(200)))
    assert answers == [(200, f"req-{n}", n) for n in range(200)]
    assert redis_client.llen("asynq:{imgs.default}:pending") == 201


def test_a_redis_that_does_not_answer_holds_up_the_lane_not_the_server(app, port,
                                                                      redis_client):
    post(port, BODY)
    redis_client.execute_command("CLIENT", "PAUSE", 1000)  # every client waits a second
    with ThreadPoolExecutor(4) as pool:
        adds = [pool.submit(post, port, {**BODY, "task_id": f"paused-{n % 3}"})
                for n in range(6)]
        # The main loop still answers while those wait on the lane.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        assert not all(add.done() for add in adds)
        statuses = sorted(add.result()[0] for add in adds)
    # Each request got its own outcome, whatever batch it shared: three new IDs, three taken.
    assert statuses == [200, 200, 200, 409, 409, 409]
    assert redis_client.llen("asynq:{imgs.default}:pending") == 4


def test_task_reads_on_the_lane_equal_flasks(app, port, access_log, redis_client):
    # scheduled: its next_process_at does not move between the two reads
    task_id = post(port, {**BODY, "process_in": 600})[2]["info"]["id"]
    lane = get(port, f"/queue/{task_id}", **{"X-Request-ID": "get-lane"})
    flask = get(port, f"/queue/{task_id}?via=pool", **{"X-Request-ID": "get-pool"})
    assert lane[0] == 200 and json.loads(lane[2])["info"]["id"] == task_id
    assert same_but_varying(lane) == same_but_varying(flask)  # the body byte for byte
    assert lane[1]["x-request-id"] == "get-lane"
    assert threads_of(access_log, "get-lane") == [LANE]
    assert LANE not in threads_of(access_log, "get-pool")
    missing = get(port, "/queue/nothing-here", **{"X-Request-ID": "get-404"})
    assert (missing[0], json.loads(missing[2])["code"]) == (404, "task_not_found")
    assert same_but_varying(missing) == same_but_varying(get(port, "/queue/nothing-here?x=1",
                                                             **{"X-Request-ID": "get-404"}))
    assert get(port, f"/queue/{task_id}", Authorization="Bearer nope")[0] == 401
    assert get(port, f"/queue/{task_id}", **WORKER)[0] == 403
    waited = get(port, f"/queue/{task_id}?wait=true&timeout=1", **{"X-Request-ID": "get-wait"})
    assert waited[0] == 408 and LANE not in threads_of(access_log, "get-wait")  # long-polled
    counts = scrape(app.test_client(), **CLIENT).values("flask_http_request_duration_seconds_count")
    # the lane's and the pool's 200s; the long-poll's parked run sent nothing and is not counted
    assert counts[frozenset({"method": "GET", "url_rule": "/queue/<task_id>",
                             "status": "200"}.items())] == 2
    assert counts[frozenset({"method": "GET", "url_rule": "/queue/<task_id>",
                             "status": "408"}.items())] == 1
    assert counts[frozenset({"method": "GET", "url_rule": "/queue/<task_id>",
                             "status": "404"}.items())] == 2


def test_concurrent_reads_each_get_their_own_task(app, port, redis_client):
    ids = [post(port, {"queue": "imgs", "data": {"n": n}})[2]["info"]["id"] for n in range(40)]
    configure(app.test_client(), "later")  # a queue that appears after the lane's reads began
    get(port, f"/queue/{ids[0]}")
    ids.append(post(port, {"queue": "later", "data": {"n": 40}})[2]["info"]["id"])
    wanted = [*ids, "missing-1", "missing-2"] * 3

    def read(task_id: str) -> tuple[int, Any]:
        status, _, body = get(port, f"/queue/{task_id}")
        answer = json.loads(body)
        return status, answer["info"]["payload"]["n"] if status == 200 else answer["code"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(read, wanted))
    assert answers == [*[(200, n) for n in range(41)], (404, "task_not_found"),
                       (404, "task_not_found")] * 3


@pytest.fixture()
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_redis_down_and_back_during_lane_requests(make_app, own_redis):
    app = make_app(redis_url=own_redis.url)
    configure(app.test_client(), "imgs")
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"],
                                        host="127.0.0.1", port=0))
    try:
        port = serving.port
        added = post(port, BODY)
        assert added[0] == 200
        task_id = added[2]["info"]["id"]
        assert get(port, f"/queue/{task_id}")[0] == 200
        own_redis.stop()
        down = post(port, BODY)
        assert (down[0], down[2]["code"]) == (503, "redis_unavailable")
        assert comparable(down)[:2] == comparable(post(port, BODY, "/queue/add?via=pool"))[:2]
        read = get(port, f"/queue/{task_id}")
        assert (read[0], json.loads(read[2])["code"]) == (503, "redis_unavailable")
        assert same_but_varying(read) == same_but_varying(get(port, f"/queue/{task_id}?x=1"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        own_redis.start()
        back = post(port, BODY)
        assert back[0] == 200
        assert get(port, f"/queue/{back[2]['info']['id']}")[0] == 200
        assert own_redis.client().llen("asynq:{imgs.default}:pending") == 1
    finally:
        serving.stop()


def test_the_lane_stops_with_the_server(app):
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"],
                                        host="127.0.0.1", port=0))
    assert LANE in {t.name for t in threading.enumerate()}
    serving.stop()
    poll_until(lambda: LANE not in {t.name for t in threading.enumerate()}, timeout=10,
               what="the lean lane's thread to end")


def test_no_lane_behind_a_trusted_proxy(make_app, access_log):
    """With ProxyFix in front (X-Forwarded-* may change the scheme, host and prefix), the
    pool serves every request."""
    app = make_app(trusted_proxies=1)
    configure(app.test_client(), "imgs")
    serving = ServingThread(make_server(app, app.config["RUNQY_SETTINGS"],
                                        host="127.0.0.1", port=0))
    try:
        for _ in range(2):
            assert post(serving.port, BODY, **{"X-Request-ID": "req-proxied"})[0] == 200
        assert LANE not in threads_of(access_log, "req-proxied")
    finally:
        serving.stop()
