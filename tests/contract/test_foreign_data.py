"""Data written by other programs (Go asynq producers, original runqy workers, a buggy worker)
is read without a 500 (http-api.md 3: "a 500 is a server bug"; 7.3: a heartbeat that cannot be
parsed still yields an entry)."""

from __future__ import annotations

import json
import time

from runqy.broker import Broker
from runqy.broker.codec import TaskMessage
from tests.server.conftest import ADMIN

FAR = 2**62  # an int64 time no RFC 3339 string can show


def beat(redis_client, worker_id: str, **fields: str) -> None:
    now = int(time.time())
    redis_client.zadd("runqy:workers", {worker_id: now})
    redis_client.hset(f"asynq:workers:{worker_id}",
                      mapping={"worker_id": worker_id, "last_beat": str(now),
                               "status": "running", "healthy": "true", **fields})


def test_a_heartbeat_with_out_of_range_times_is_still_listed(client, redis_client):
    beat(redis_client, "ok-worker")
    beat(redis_client, "odd-worker", last_beat=str(FAR), started_at=str(FAR))
    response = client.get("/api/workers", headers=ADMIN)
    assert response.status_code == 200, response.json
    assert [w["worker_id"] for w in response.json["workers"]] == ["odd-worker", "ok-worker"]
    assert client.get("/api/workers/odd-worker", headers=ADMIN).status_code == 200


def test_log_lines_without_an_integer_seq_do_not_break_since(client, redis_client):
    beat(redis_client, "w1")
    redis_client.rpush("asynq:workers:w1:logs", '{"ts": 1, "seq": "x", "text": "odd"}',
                       '{"ts": 2, "seq": 1, "text": "one"}', '{"ts": 3, "seq": 2, "text": "two"}',
                       '{"seq": null}')
    response = client.get("/api/workers/w1/logs?since=1", headers=ADMIN)
    assert response.status_code == 200, response.json
    assert [line["text"] for line in response.json["lines"]] == ["two"]


def test_a_foreign_task_with_out_of_range_times_is_readable(client, redis_client):
    msg = TaskMessage(type="email", queue="default", payload=b"{}", id="go-1",
                      deadline=FAR, last_failed_at=FAR, completed_at=FAR)
    Broker(redis_client).enqueue(msg)
    for path in ("/queue/go-1", "/api/tasks/go-1", "/api/queues/default/tasks/go-1"):
        response = client.get(path, headers=ADMIN)
        assert response.status_code == 200, (path, response.json)
    listing = client.get("/api/queues/default/tasks", headers=ADMIN)
    assert [t["id"] for t in listing.json["tasks"]] == ["go-1"]


def test_a_foreign_payload_with_an_out_of_range_number_is_shown_as_text(client, redis_client):
    # Decoded as a JSON value it would be infinity, sent as `Infinity`: not JSON (5.1 falls
    # back to the UTF-8 text when the bytes are not a JSON value this server can send).
    Broker(redis_client).enqueue(TaskMessage(type="email", queue="default", id="go-2",
                                             payload=b'{"x": 1e400}'))
    response = client.get("/queue/go-2", headers=ADMIN)
    assert response.status_code == 200
    body = json.loads(response.get_data(as_text=True), parse_constant=_not_json)
    assert body["info"]["payload"] == '{"x": 1e400}'


def _not_json(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_heartbeat_metrics_with_nan_or_infinity_give_strict_json(client, redis_client):
    # Python's json.dumps writes NaN for a float NaN (a GPU sensor that reads nothing).
    beat(redis_client, "gpu-1", metrics='{"cpu_percent": NaN, "memory_used_bytes": 5, '
                                        '"gpus": [{"temperature_c": 1e400}]}')
    for path in ("/api/workers", "/api/workers/gpu-1"):
        response = client.get(path, headers=ADMIN)
        assert response.status_code == 200
        body = json.loads(response.get_data(as_text=True), parse_constant=_not_json)
        worker = body["workers"][0] if "workers" in body else body
        assert worker["metrics"] == {"cpu_percent": None, "memory_used_bytes": 5,
                                     "gpus": [{"temperature_c": None}]}
