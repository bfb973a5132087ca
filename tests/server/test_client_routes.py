"""POST /queue/add, /queue/add-batch and GET /queue/<id> over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from runqy.broker import Broker, Inspector
from tests.server.conftest import ADMIN, CLIENT, configure, redis_keys
from tests.support.polling import poll_until

SCHEMA = [{"name": "prompt", "type": "string"},
          {"name": "steps", "type": "int", "required": False, "default": 20}]


@pytest.fixture()
def database_url(pg_or_sqlite):
    return pg_or_sqlite


@pytest.fixture()
def queue(client):
    configure(client, "imgs", sub_queues=[{"name": "default", "priority": 1},
                                          {"name": "high", "priority": 5}],
              task_defaults={"max_retry": 7, "timeout": 600})
    configure(client, "gen", input_schema=SCHEMA)
    return "imgs"


def test_add_nested_form_enqueues_a_pending_task_readable_by_the_client(client, queue,
                                                                        redis_client):
    response = client.post("/queue/add", headers=CLIENT,
                           json={"queue": "imgs", "data": {"url": "https://x/y.png"}})
    assert response.status_code == 200
    info = response.json["info"]
    assert info["queue"] == "imgs.default" and info["type"] == "imgs.default"
    assert info["state"] == "pending" and info["payload"] == {"url": "https://x/y.png"}
    assert (info["max_retry"], info["timeout"], info["retention"]) == (7, 600, 86400)
    assert info["result"] is None and info["last_err"] is None
    assert response.json["data"] == {"url": "https://x/y.png"}
    assert response.headers["Cache-Control"] == "no-store"
    stored = Inspector(redis_client).get_task("imgs.default", info["id"])
    assert stored.payload == b'{"url":"https://x/y.png"}'
    fetched = client.get(f"/queue/{info['id']}", headers=CLIENT)
    assert fetched.status_code == 200 and fetched.json["info"]["id"] == info["id"]
    assert fetched.json["info"]["state"] == "pending"


def test_add_flat_form_uses_every_other_key_as_payload(client, queue, redis_client):
    response = client.post("/queue/add", headers=CLIENT,
                           data=json.dumps({"queue": "imgs.high", "timeout": 30, "url": "u",
                                            "max_retry": "kept as data"}))
    assert response.status_code == 200, response.json
    info = response.json["info"]
    assert info["queue"] == "imgs.high" and info["timeout"] == 30
    assert info["payload"] == {"url": "u", "max_retry": "kept as data"}
    assert info["max_retry"] == 7


def test_add_options_schedule_set_ids_and_deadlines(client, queue):
    future = int(time.time()) + 3600
    response = client.post("/queue/add", headers=ADMIN, json={
        "queue": "imgs", "data": [1, 2], "process_in": 60, "task_id": "my-task:1",
        "max_retry": 0, "retention": 0, "deadline": future, "timeout": 30.0})
    assert response.status_code == 200, response.json
    info = response.json["info"]
    assert info["id"] == "my-task:1" and info["state"] == "scheduled"
    assert info["next_process_at"] is not None and info["deadline"].endswith("Z")
    assert (info["max_retry"], info["retention"], info["timeout"]) == (0, 0, 30)
    again = client.post("/queue/add", headers=ADMIN,
                        json={"queue": "imgs", "data": 1, "task_id": "my-task:1"})
    assert again.status_code == 409 and again.json["code"] == "task_id_conflict"
    past = client.post("/queue/add", headers=ADMIN, json={
        "queue": "imgs", "data": 1, "process_at": "2020-01-01T00:00:00+02:00"})
    assert past.json["info"]["state"] == "pending"


def test_unique_ttl_rejects_a_duplicate_while_the_lock_lives(client, queue):
    body = {"queue": "imgs", "data": {"same": True}, "unique_ttl": 60}
    assert client.post("/queue/add", headers=CLIENT, json=body).status_code == 200
    duplicate = client.post("/queue/add", headers=CLIENT, json=body)
    assert duplicate.status_code == 409 and duplicate.json["code"] == "duplicate_task"


def test_input_schema_fills_defaults_and_reports_every_failed_field(client, queue):
    ok = client.post("/queue/add", headers=CLIENT, json={"queue": "gen", "data": {"prompt": "p"}})
    assert ok.status_code == 200 and ok.json["data"] == {"prompt": "p", "steps": 20}
    whole = client.post("/queue/add", headers=CLIENT,
                        json={"queue": "gen", "data": {"prompt": "p", "steps": 5.0}})
    assert whole.json["data"]["steps"] == 5
    bad = client.post("/queue/add", headers=CLIENT,
                      json={"queue": "gen", "data": {"steps": "many"}})
    assert bad.status_code == 422 and bad.json["code"] == "schema_validation_failed"
    assert bad.json["errors"] == ["field 'prompt' is required",
                                  "field 'steps' has type string, expected int"]
    not_object = client.post("/queue/add", headers=CLIENT, json={"queue": "gen", "data": [1]})
    assert not_object.status_code == 422


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"queue": "nope", "data": 1}, 404, "queue_not_found"),
    ({"queue": "imgs.low", "data": 1}, 404, "queue_not_found"),
    ({"queue": "a.b.c", "data": 1}, 400, "invalid_queue_name"),
    ({"queue": "bad name", "data": 1}, 400, "invalid_queue_name"),
    ({"queue": 5, "data": 1}, 400, "invalid_request"),
    ({"data": 1}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "bogus": 1}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "timeout": -1}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "timeout": 30.5}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "timeout": "30"}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "timeout": True}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "max_retry": -1}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "process_in": 5, "process_at": 1}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "process_at": "tomorrow"}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "deadline": 1000}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "unique_ttl": 0}, 400, "invalid_request"),
    ({"queue": "imgs", "data": 1, "task_id": "no spaces"}, 400, "invalid_request"),
    ({"queue": "gen", "data": {"prompt": 1}}, 422, "schema_validation_failed"),
])
def test_rejected_adds_write_nothing_to_redis(client, queue, redis_client, body, status, code):
    before = redis_keys(redis_client)
    response = client.post("/queue/add", headers=CLIENT, json=body)
    assert (response.status_code, response.json["code"]) == (status, code), response.json
    assert response.json["errors"]
    assert redis_keys(redis_client) == before


def test_disabled_queue_gives_404(client, queue):
    client.delete("/api/queue-configs/imgs", headers=ADMIN)
    response = client.post("/queue/add", headers=CLIENT, json={"queue": "imgs", "data": 1})
    assert response.status_code == 404 and response.json["code"] == "queue_not_found"


def test_payload_and_body_size_limits_give_413(make_app, redis_client):
    app = make_app(max_payload_size=100, max_body_size=1000)
    client = app.test_client()
    configure(client, "imgs")
    before = redis_keys(redis_client)
    big_payload = client.post("/queue/add", headers=CLIENT,
                              json={"queue": "imgs", "data": "x" * 200})
    assert big_payload.status_code == 413 and big_payload.json["code"] == "payload_too_large"
    big_body = client.post("/queue/add", headers=CLIENT,
                           data=json.dumps({"queue": "imgs", "data": "x" * 5000}))
    assert big_body.status_code == 413 and big_body.json["code"] == "payload_too_large"
    assert redis_keys(redis_client) == before


def test_add_batch_enqueues_valid_jobs_and_reports_the_others(client, queue, redis_client):
    client.post("/queue/add", headers=CLIENT, json={"queue": "imgs", "data": 0, "task_id": "taken"})
    response = client.post("/queue/add-batch", headers=CLIENT, json={
        "queue": "imgs", "timeout": 120, "max_retry": 2,
        "jobs": [{"data": {"url": "a"}, "timeout": 600}, {"url": "b"}, 42,
                 {"data": {"url": "c"}, "task_id": "img-c"},
                 {"data": 1, "task_id": "taken"},
                 {"data": 1, "process_in": -5}]})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["enqueued"] == 4 and body["failed"] == 2
    assert body["task_ids"][3] == "img-c"
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (4, "task_id_conflict"), (5, "invalid_request")]
    inspector = Inspector(redis_client)
    first = inspector.get_task("imgs.default", body["task_ids"][0])
    assert (first.timeout, first.max_retry) == (600, 2)
    third = inspector.get_task("imgs.default", body["task_ids"][2])
    assert third.payload == b"42" and third.timeout == 120
    assert inspector.queue_stats("imgs.default").pending == 5


def test_add_batch_checks_schema_per_job(client, queue):
    response = client.post("/queue/add-batch", headers=CLIENT, json={
        "queue": "gen", "jobs": [{"prompt": "a"}, {"steps": 2}]})
    assert response.json["enqueued"] == 1
    assert response.json["errors"] == [{"index": 1, "code": "schema_validation_failed",
                                        "message": "field 'prompt' is required"}]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"queue": "imgs"}, 400, "invalid_request"),
    ({"queue": "imgs", "jobs": []}, 400, "invalid_request"),
    ({"queue": "imgs", "jobs": {"a": 1}}, 400, "invalid_request"),
    ({"queue": "imgs", "jobs": [1], "timeout": "x"}, 400, "invalid_request"),
    ({"queue": "imgs", "jobs": [1], "extra": 1}, 400, "invalid_request"),
    ({"queue": "missing", "jobs": [1]}, 404, "queue_not_found"),
    ({"queue": "x..y", "jobs": [1]}, 400, "invalid_queue_name"),
])
def test_add_batch_top_level_errors(client, queue, redis_client, body, status, code):
    before = redis_keys(redis_client)
    response = client.post("/queue/add-batch", headers=CLIENT, json=body)
    assert (response.status_code, response.json["code"]) == (status, code)
    assert redis_keys(redis_client) == before


def test_add_batch_over_the_limit_gives_413_and_writes_nothing(make_app, redis_client):
    client = make_app(max_batch_size=3).test_client()
    configure(client, "imgs")
    before = redis_keys(redis_client)
    response = client.post("/queue/add-batch", headers=CLIENT,
                           json={"queue": "imgs", "jobs": [1, 2, 3, 4]})
    assert response.status_code == 413 and response.json["code"] == "batch_too_large"
    assert redis_keys(redis_client) == before
    ok = client.post("/queue/add-batch", headers=CLIENT, json={"queue": "imgs", "jobs": [1, 2, 3]})
    assert ok.json["enqueued"] == 3


def test_get_unknown_or_malformed_task_gives_404(client, queue):
    for task_id in ("0b6f2f9e-5d2b-4c3e-9d8f-1f0f7a6c2e11", "-bad-"):
        response = client.get(f"/queue/{task_id}", headers=CLIENT)
        assert response.status_code == 404 and response.json["code"] == "task_not_found"


def _complete(redis_client, queue: str, result: bytes) -> None:
    """Take the queue's task and complete it with `result`, as a worker does."""
    broker = Broker(redis_client)
    dequeued = broker.dequeue([queue])
    broker.set_result(queue, dequeued.msg.id, result)
    broker.mark_complete(dequeued.msg)


def _complete_once_waited_on(app, redis_client, queue: str, result: bytes) -> threading.Thread:
    """Complete the queue's task once a long-poll waits for it (not before it asks)."""
    watcher = app.extensions["runqy"].waiters.watcher

    def run() -> None:
        poll_until(lambda: watcher.count == 1, timeout=10, what="the long-poll waiting",
                   interval=0.01)
        _complete(redis_client, queue, result)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_wait_returns_the_result_once_the_task_completes(client, queue, redis_client):
    task_id = client.post("/queue/add", headers=CLIENT,
                          json={"queue": "imgs", "data": 1}).json["info"]["id"]
    worker = _complete_once_waited_on(client.application, redis_client, "imgs.default",
                                      b'{"width": 640}')
    response = client.get(f"/queue/{task_id}?wait=true&timeout=10", headers=CLIENT)
    worker.join()
    assert response.status_code == 200
    info = response.json["info"]
    assert info["state"] == "completed" and info["result"] == {"width": 640}
    assert info["completed_at"] is not None


def test_wait_times_out_with_408_and_bad_timeouts_give_400(client, queue):
    task_id = client.post("/queue/add", headers=CLIENT,
                          json={"queue": "imgs", "data": 1}).json["info"]["id"]
    started = time.monotonic()
    response = client.get(f"/queue/{task_id}?wait=true&timeout=1", headers=CLIENT)
    assert response.status_code == 408 and response.json["code"] == "wait_timeout"
    assert 0.9 <= time.monotonic() - started < 5
    for bad in ("0", "121", "x"):
        assert client.get(f"/queue/{task_id}?wait=true&timeout={bad}",
                          headers=CLIENT).status_code == 400


def test_too_many_waiters_gives_429_with_retry_after(make_app, redis_client):
    app = make_app(max_waiters=1)
    client = app.test_client()
    configure(client, "imgs")
    task_id = client.post("/queue/add", headers=CLIENT,
                          json={"queue": "imgs", "data": 1}).json["info"]["id"]
    results = {}

    def long_poll() -> None:
        results["first"] = client.get(f"/queue/{task_id}?wait=true&timeout=30", headers=CLIENT)

    first = threading.Thread(target=long_poll)
    first.start()
    watcher = app.extensions["runqy"].waiters.watcher
    poll_until(lambda: watcher.count == 1, timeout=5, what="the first long-poll waiting")
    started = time.monotonic()
    second = client.get(f"/queue/{task_id}?wait=true&timeout=2", headers=CLIENT)
    assert time.monotonic() - started < 1, "a refused long-poll must not hold a thread"
    _complete(redis_client, "imgs.default", b"1")  # the first waiter is still served
    first.join()
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1" and second.json["code"] == "too_many_waiters"
    assert results["first"].status_code == 200
    assert results["first"].json["info"]["state"] == "completed"


def test_non_json_and_non_utf8_payloads_are_decoded_for_display(client, queue, redis_client):
    from runqy.broker.codec import TaskMessage

    broker = Broker(redis_client)
    broker.enqueue(TaskMessage(type="imgs.default", payload=b"\xff\x00", id="bin-1",
                               queue="imgs.default", retry=1, timeout=5))
    broker.enqueue(TaskMessage(type="imgs.default", payload=b"plain text", id="txt-1",
                               queue="imgs.default", retry=1, timeout=5))
    binary = client.get("/queue/bin-1", headers=CLIENT).json["info"]
    assert binary["payload"] == "/wA=" and binary["payload_encoding"] == "base64"
    assert client.get("/queue/txt-1", headers=CLIENT).json["info"]["payload"] == "plain text"
