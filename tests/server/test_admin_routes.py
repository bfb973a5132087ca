"""Admin routes over HTTP: system, runtime queues, tasks and their actions, workers."""

from __future__ import annotations

import json
import time

from runqy.broker import Broker, Inspector
from runqy.broker.codec import TaskMessage
from tests.server.conftest import ADMIN, CLIENT, configure


def _add(client, data, **options):
    response = client.post("/queue/add", headers=CLIENT,
                           json={"queue": "imgs", "data": data, **options})
    assert response.status_code == 200, response.json
    return response.json["info"]["id"]


def test_system_describes_the_running_server(client):
    body = client.get("/api/system", headers=ADMIN).json
    assert body["version"] == "0.3.0" and body["read_only"] is False and body["ui"] is True
    assert body["redis"]["embedded"] is False and body["redis"]["version"]
    assert body["database"]["type"] == "sqlite"
    assert body["database"]["location"].endswith("runqy.db")


def test_queue_listing_includes_configured_and_foreign_queues(client, redis_client):
    configure(client, "imgs")
    _add(client, 1)
    Broker(redis_client).enqueue(TaskMessage(type="t", payload=b"{}", id="go-1",
                                             queue="default", retry=1, timeout=5))
    body = client.get("/api/queues", headers=ADMIN).json
    by_name = {q["queue"]: q for q in body["queues"]}
    assert body["count"] == 2
    assert by_name["imgs.default"]["configured"] and by_name["imgs.default"]["pending"] == 1
    assert by_name["default"]["configured"] is False and by_name["default"]["size"] == 1
    detail = client.get("/api/queues/default?days=3", headers=ADMIN).json
    assert detail["queue"]["queue"] == "default" and len(detail["history"]) == 3
    assert detail["history"][-1]["date"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert client.get("/api/queues/imgs", headers=ADMIN).json["queue"]["queue"] == "imgs.default"
    assert client.get("/api/queues/ghost", headers=ADMIN).status_code == 404
    assert client.get("/api/queues/imgs?days=91", headers=ADMIN).status_code == 400
    assert client.get("/api/queues/a.b.c", headers=ADMIN).json["code"] == "invalid_queue_name"


def test_pause_and_unpause_are_idempotent(client, redis_client):
    configure(client, "imgs")
    for _ in range(2):
        response = client.post("/api/queues/imgs/pause", headers=ADMIN)
        assert response.json == {"queue": "imgs.default", "paused": True}
    assert Inspector(redis_client).queue_stats("imgs.default").paused
    for _ in range(2):
        assert client.post("/api/queues/imgs/unpause", headers=ADMIN).json["paused"] is False
    assert not Inspector(redis_client).queue_stats("imgs.default").paused


def test_delete_queue_needs_force_and_disables_its_configuration(client, redis_client):
    configure(client, "imgs")
    _add(client, 1)
    refused = client.delete("/api/queues/imgs", headers=ADMIN)
    assert refused.status_code == 409 and refused.json["code"] == "queue_not_empty"
    forced = client.delete("/api/queues/imgs?force=true", headers=ADMIN)
    assert forced.json == {"queue": "imgs.default", "deleted": True, "config_disabled": True}
    assert "imgs.default" not in Inspector(redis_client).queue_names()
    assert client.post("/queue/add", headers=CLIENT,
                       json={"queue": "imgs", "data": 1}).status_code == 404


def test_task_listing_pages_and_filters(client):
    configure(client, "imgs")
    ids = [_add(client, {"n": n, "tag": "cat" if n % 2 else "dog"}) for n in range(5)]
    page = client.get("/api/queues/imgs/tasks?state=pending&page=1&size=2", headers=ADMIN).json
    assert page["total"] == 5 and len(page["tasks"]) == 2 and page["tasks"][0]["id"] == ids[0]
    filtered = client.get("/api/queues/imgs/tasks?size=5&q=CAT", headers=ADMIN).json
    assert [t["id"] for t in filtered["tasks"]] == [ids[1], ids[3]] and filtered["total"] == 5
    assert client.get("/api/queues/imgs/tasks?limit=1", headers=ADMIN).json["size"] == 1
    for bad in ("state=done", "size=0", "size=501", "page=0", "page=x"):
        response = client.get(f"/api/queues/imgs/tasks?{bad}", headers=ADMIN)
        assert response.status_code == 400, bad


def test_single_task_actions(client, redis_client):
    configure(client, "imgs")
    scheduled = _add(client, 1, process_in=600)
    pending = _add(client, 2)
    assert client.get(f"/api/queues/imgs/tasks/{scheduled}", headers=ADMIN).json[
        "state"] == "scheduled"
    assert client.get(f"/api/tasks/{pending}", headers=ADMIN).json["queue"] == "imgs.default"
    run = client.post(f"/api/queues/imgs/tasks/{scheduled}/run", headers=ADMIN)
    assert run.json == {"task_id": scheduled, "state": "pending"}
    again = client.post(f"/api/queues/imgs/tasks/{scheduled}/run", headers=ADMIN)
    assert again.status_code == 409 and again.json["code"] == "task_state_conflict"
    archived = client.post(f"/api/queues/imgs/tasks/{pending}/archive", headers=ADMIN)
    assert archived.json == {"task_id": pending, "state": "archived"}
    cancel = client.post(f"/api/tasks/{pending}/cancel", headers=ADMIN)
    assert cancel.status_code == 409
    deleted = client.delete(f"/api/queues/imgs/tasks/{pending}", headers=ADMIN)
    assert deleted.json == {"task_id": pending, "deleted": True}
    assert client.get(f"/queue/{pending}", headers=CLIENT).status_code == 404
    for path in (f"/api/queues/imgs/tasks/{pending}", "/api/tasks/nope", "/api/tasks/-x"):
        response = client.get(path, headers=ADMIN)
        assert response.status_code == 404 and response.json["code"] == "task_not_found"


def test_cancel_of_an_active_task_publishes_a_request(client, redis_client):
    configure(client, "imgs")
    task_id = _add(client, 1)
    Broker(redis_client).dequeue(["imgs.default"])
    pubsub = redis_client.pubsub()
    pubsub.subscribe("asynq:cancel")
    pubsub.get_message(timeout=1)
    response = client.post(f"/api/queues/imgs/tasks/{task_id}/cancel", headers=ADMIN)
    assert response.json == {"task_id": task_id, "cancel_requested": True}
    message = pubsub.get_message(timeout=2)
    assert message and message["data"] == task_id.encode()
    active_delete = client.delete(f"/api/queues/imgs/tasks/{task_id}", headers=ADMIN)
    assert active_delete.status_code == 409
    pubsub.close()


def test_batch_and_all_actions(client, redis_client):
    configure(client, "imgs")
    ids = [_add(client, n, process_in=600) for n in range(3)]
    pending = _add(client, "p")
    batch = client.post("/api/queues/imgs/tasks/batch", headers=ADMIN, json={
        "action": "run", "task_ids": [ids[0], pending, "ghost"]}).json
    assert batch["succeeded"] == [ids[0]]
    assert [(f["task_id"], f["code"]) for f in batch["failed"]] == [
        (pending, "task_state_conflict"), ("ghost", "task_not_found")]
    too_many = client.post("/api/queues/imgs/tasks/batch", headers=ADMIN,
                           json={"action": "run", "task_ids": ["a"] * 1001})
    assert too_many.status_code == 413 and too_many.json["code"] == "batch_too_large"
    everything = client.post("/api/queues/imgs/tasks/all", headers=ADMIN,
                             json={"action": "archive", "state": "scheduled"}).json
    assert everything == {"action": "archive", "state": "scheduled", "count": 2}
    assert Inspector(redis_client).queue_stats("imgs.default").archived == 2
    bad_pair = client.post("/api/queues/imgs/tasks/all", headers=ADMIN,
                           json={"action": "run", "state": "pending"})
    assert bad_pair.status_code == 400
    bad_action = client.post("/api/queues/imgs/tasks/batch", headers=ADMIN,
                             json={"action": "explode", "task_ids": ["a"]})
    assert bad_action.status_code == 400


def test_workers_and_their_logs(client, redis_client):
    broker = Broker(redis_client)
    now = int(time.time())
    broker.write_worker_heartbeat("gpu-01-42", {
        "worker_id": "gpu-01-42", "started_at": str(now - 60), "last_beat": str(now),
        "healthy": "true", "queue": "imgs.high,imgs.default", "active_task": "t1",
        "concurrency": "2", "status": "running",
        "metrics": json.dumps({"cpu_percent": 1.5}),
        "recovery": json.dumps({"state": "idle", "consecutive_fails": 0, "total_restarts": 0}),
        "queues": "map[imgs.default:1 imgs.high:10]",
    }, [{"ts": 1, "src": "stderr", "text": "hello", "seq": 1},
        {"ts": 2, "src": "stdout", "text": "world", "seq": 2}])
    listing = client.get("/api/workers", headers=ADMIN).json
    assert listing["count"] == 1
    worker = listing["workers"][0]
    assert worker["worker_id"] == "gpu-01-42" and worker["status"] == "running"
    assert worker["healthy"] is True and worker["stale"] is False
    assert worker["queues"] == [{"name": "imgs.high", "priority": 10},
                                {"name": "imgs.default", "priority": 1}]
    assert worker["active_tasks"] == ["t1"] and worker["last_beat"].endswith("Z")
    assert client.get("/api/workers/gpu-01-42", headers=ADMIN).json["concurrency"] == 2
    logs = client.get("/api/workers/gpu-01-42/logs?since=1", headers=ADMIN).json
    assert [line["text"] for line in logs["lines"]] == ["world"]
    for path in ("/api/workers/ghost", "/api/workers/ghost/logs"):
        response = client.get(path, headers=ADMIN)
        assert response.status_code == 404 and response.json["code"] == "worker_not_found"
    assert client.get("/api/workers/gpu-01-42/logs?n=0", headers=ADMIN).status_code == 400


def test_one_unreadable_queue_does_not_fail_the_listing(client, redis_client):
    configure(client, "imgs")
    _add(client, 1)
    redis_client.sadd("asynq:queues", "broken.default")
    redis_client.set("asynq:{broken.default}:pending", "not a list")
    body = client.get("/api/queues", headers=ADMIN).json
    by_name = {q["queue"]: q for q in body["queues"]}
    assert by_name["imgs.default"]["pending"] == 1
    assert "WRONGTYPE" in by_name["broken.default"]["error"]
    assert by_name["broken.default"]["pending"] is None
