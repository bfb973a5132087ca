"""http-api.md 7.3: a heartbeat hash that cannot be parsed still yields a worker entry, with an
`error` naming the bad fields (null in the entry), in the API and on the dashboard's pages."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest
from flask import Flask

from runqy.broker import keys
from tests.dashboard.conftest import create_admin
from tests.dashboard.test_auth import log_in
from tests.server.conftest import ADMIN


def beat(redis_client, worker_id: str, **overrides: str) -> None:
    """A well-formed runqy heartbeat (wire-format.md 8.2), with some fields replaced."""
    now = int(time.time())
    fields = {"worker_id": worker_id, "started": "2026-11-28T12:00:00Z",
              "started_at": str(now - 60), "last_beat": str(now), "healthy": "true",
              "queue": "imgs.default", "active_task": "", "concurrency": "2",
              "status": "running", "hostname": "gpu-1", "pid": "4242",
              "metrics": json.dumps({"cpu_percent": 12.5, "memory_used_bytes": 1024,
                                     "memory_total_bytes": 4096, "collected_at": now}),
              "recovery": json.dumps({"state": "idle", "consecutive_fails": 0,
                                      "total_restarts": 0}),
              "queues": "map[imgs.default:1]", **overrides}
    redis_client.hset(keys.runqy_worker(worker_id), mapping=fields)
    redis_client.zadd(keys.RUNQY_WORKERS, {worker_id: now})


BAD = {"last_beat": "abc", "metrics": "{not json", "concurrency": "x"}


def test_unparseable_heartbeat_is_listed_with_an_error_naming_the_bad_fields(client, redis_client):
    beat(redis_client, "good")
    beat(redis_client, "broken", **BAD)
    listed = client.get("/api/workers", headers=ADMIN).get_json()
    assert [w["worker_id"] for w in listed["workers"]] == ["broken", "good"]
    broken, good = listed["workers"]
    for name in BAD:
        assert broken[name] is None
        assert name in broken["error"]
    assert broken["error"] == ("heartbeat fields that cannot be parsed: "
                               "concurrency, last_beat, metrics")
    # the parsable fields of the same hash are still shown
    assert broken["hostname"] == "gpu-1"
    assert broken["recovery"]["state"] == "idle"
    assert broken["stale"] is False  # falls back to the index score, like an expired hash
    assert "error" not in good
    assert good["concurrency"] == 2 and good["metrics"]["cpu_percent"] == 12.5
    assert client.get("/api/workers/broken", headers=ADMIN).get_json() == broken
    assert "error" not in client.get("/api/workers/good", headers=ADMIN).get_json()


@pytest.mark.parametrize(("name", "value"), [
    ("started_at", "yesterday"), ("pid", "12a"), ("healthy", "maybe"),
    ("recovery", "[1, 2]"), ("metrics", "[" * 100_000),
])
def test_each_unparseable_field_is_named_and_nulled(client, redis_client, name, value):
    beat(redis_client, "w", **{name: value})
    worker = client.get("/api/workers/w", headers=ADMIN).get_json()
    assert worker[name] is None
    assert worker["error"] == f"heartbeat fields that cannot be parsed: {name}"


def test_empty_and_absent_fields_are_not_errors(client, redis_client):
    """Go runqy workers publish neither `started_at` nor `metrics`; `1`/`0` health is valid."""
    beat(redis_client, "gohost:77", healthy="1", metrics="", recovery="")
    redis_client.hdel(keys.runqy_worker("gohost:77"), "started_at", "concurrency")
    worker = client.get("/api/workers/gohost:77", headers=ADMIN).get_json()
    assert "error" not in worker
    assert worker["healthy"] is True and worker["started_at"] is None


@pytest.fixture()
def dashboard(app: Flask):
    create_admin(app)
    browser = app.test_client()
    assert log_in(browser).status_code == 302
    return browser


def test_dashboard_shows_the_error(dashboard, redis_client):
    beat(redis_client, "good")
    beat(redis_client, "broken", concurrency="x")
    for path in ("/monitoring/workers", "/monitoring/workers/broken"):
        page = dashboard.get(path).text
        assert "heartbeat fields that cannot be parsed: concurrency" in page
        assert page.count("data-worker-error") == 1


def test_openapi_documents_the_worker_error(client, redis_client):
    """The contract's table does not list `error`; the document states the choice (absent when
    clean) and every listed entry validates against it."""
    document = client.get("/openapi.json").json
    worker_schema = document["components"]["schemas"]["Worker"]
    assert "error" in worker_schema["properties"] and "error" not in worker_schema["required"]
    beat(redis_client, "good")
    beat(redis_client, "broken", **BAD)
    for worker in client.get("/api/workers", headers=ADMIN).get_json()["workers"]:
        jsonschema.validate(worker, worker_schema)
