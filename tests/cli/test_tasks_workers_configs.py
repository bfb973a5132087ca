"""Task, worker, config and vault commands on a known data set, in remote and local mode; a
10,000-task --file enqueue; and the Go CLI's admin routes, as the Go binary reads them."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runqy.broker import Broker
from runqy.worker.heartbeat import worker_fields
from tests.cli.conftest import Instance

SERVE_ARGS = ("--config", "queues")  # imgs (high, low) from queues/imgs.yaml


def _get(instance: Instance, path: str, method: str = "GET") -> tuple[int, Any, dict]:
    request = urllib.request.Request(instance.url + path, method=method,  # noqa: S310
                                     headers={"Authorization": f"Bearer {instance.key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@pytest.fixture()
def configured(instance: Instance) -> None:
    """Queue imgs as queues/imgs.yaml says, both sub-queues enabled (deleting a sub-queue,
    as a test may have done, disables it in the configuration)."""
    status, body = instance.server.request("POST", "/workers/reload", key=instance.key)
    assert status == 200 and body["errors"] == [], body


@pytest.mark.usefixtures("configured")
def test_task_commands_in_both_modes(instance: Instance):
    info = instance.json("task", "enqueue", "-q", "imgs.high", "-p", '{"url": "a.png"}',
                         "-t", "60")["info"]
    assert (info["queue"], info["state"], info["payload"], info["timeout"]) == (
        "imgs.high", "pending", {"url": "a.png"}, 60)
    local = instance.run("task", "enqueue", "-q", "imgs.high", "-p", "[1, 2]")
    assert local.returncode == 0 and "working on the local instance" in local.stderr
    assert local.stdout.startswith("Enqueued task ") and "in imgs.high (pending)." in local.stdout
    second = local.stdout.split()[2]

    # --redis-uri names the instance's Redis (here the embedded one); the notice masks it.
    password = (instance.folder / "instance" / "redis" / "password").read_text().strip()
    uri = f"redis://:{password}@127.0.0.1:{instance.server.redis_port}/0"
    via_uri = instance.run("--redis-uri", uri, "task", "list", "imgs.high", "-o", "json")
    assert via_uri.returncode == 0 and json.loads(via_uri.stdout)["total"] == 2
    assert f"(redis://:****@127.0.0.1:{instance.server.redis_port}/0)" in via_uri.stderr
    assert password not in via_uri.stderr

    table = instance.ok("task", "list", "imgs.high").splitlines()
    assert table[0].split() == ["ID", "STATE", "RETRIED", "NEXT/DONE", "LAST_ERROR", "PAYLOAD"]
    assert {line.split()[0] for line in table[1:3]} == {info["id"], second}
    assert table[-1] == "(2 of 2 pending tasks)"
    listed = instance.json("task", "list", "imgs.high", "--state", "pending", "-l", "1")
    assert (listed["total"], len(listed["tasks"]), listed["size"]) == (2, 1, 1)
    assert instance.json("task", "list", "imgs.high", "-l", "5", local=True)["total"] == 2

    got = instance.ok("task", "get", "imgs.high", info["id"])
    for expected in ("ID:", info["id"], "State:", "pending", '{"url":"a.png"}', "Timeout:",
                     "60 s", "Retried:", "0 of 3"):
        assert expected in got
    assert instance.json("task", "get", "imgs.high", second, local=True)["payload"] == [1, 2]

    assert instance.ok("task", "archive", "imgs.high", info["id"]) == \
        f"Task {info['id']} archived.\n"
    waited = instance.remote("task", "wait", info["id"], "--timeout", "5")
    assert waited.returncode == 1 and "State:" in waited.stdout
    assert waited.stderr == f"error: task {info['id']} was archived: failed\n"
    assert instance.json("task", "run", "imgs.high", info["id"]) == {
        "task_id": info["id"], "state": "pending"}
    slow = instance.remote("task", "wait", info["id"], "--timeout", "1")
    assert slow.returncode == 1
    assert slow.stderr == f"error: task {info['id']} is still pending after 1 s (wait_timeout)\n"
    cancel = instance.remote("task", "cancel", info["id"])
    assert cancel.returncode == 1 and cancel.stderr.endswith("(409 task_state_conflict)\n")
    assert instance.ok("task", "delete", "imgs.high", second, local=True) == \
        f"Task {second} deleted.\n"
    client = instance.redis()  # a worker takes the task: it is active
    assert Broker(client).dequeue(["imgs.high"]).msg.id == info["id"]
    client.close()
    active = instance.json("task", "list", "imgs.high", "--state", "active")["tasks"]
    assert [t["id"] for t in active] == [info["id"]]
    busy = instance.run("task", "delete", "imgs.high", info["id"])
    assert busy.returncode == 1 and busy.stderr.endswith("(409 task_state_conflict)\n")
    assert instance.ok("task", "cancel", info["id"]) == \
        f"Cancel requested for task {info['id']}.\n"

    missing = instance.remote("task", "get", "imgs.high", "no-such-task")
    assert missing.returncode == 1
    assert missing.stderr == "error: task no-such-task not found (404 task_not_found)\n"
    assert instance.run("task", "get", "imgs.high", "no-such-task").stderr.endswith(
        missing.stderr)
    bad = instance.remote("task", "enqueue", "-q", "imgs.high", "-p", "{url: x}")
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    unknown = instance.remote("task", "enqueue", "-q", "nope", "-p", "{}")
    assert unknown.returncode == 1
    assert unknown.stderr == "error: queue 'nope.default' is not configured (404 queue_not_found)\n"
    neither = instance.remote("task", "enqueue", "-q", "imgs.high")
    assert neither.returncode == 2


@pytest.mark.usefixtures("configured")
def test_enqueue_file_of_10000_tasks_shows_progress_and_lands_each_once(instance: Instance):
    path = instance.folder / "tasks.jsonl"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(10_000)))
    result = instance.remote("task", "enqueue", "-q", "imgs.low", "--file", str(path),
                             "-o", "json")
    assert result.returncode == 0, result.stderr
    progress = result.stderr.splitlines()
    assert progress[0] == "enqueued 500/10000" and progress[-1] == "enqueued 10000/10000"
    assert len(progress) == 20
    outcome = json.loads(result.stdout)
    assert (outcome["enqueued"], outcome["failed"]) == (10_000, 0)
    assert len(set(outcome["task_ids"])) == 10_000
    stats = instance.json("queue", "inspect", "imgs.low")["queue"]
    assert stats["pending"] == 10_000 and stats["size"] == 10_000

    broken = instance.folder / "broken.jsonl"
    broken.write_text('{"n": 1}\n\n{"n": 2\n')
    failed = instance.remote("task", "enqueue", "-q", "imgs.low", "--file", str(broken))
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"error: {broken} line 3: not valid JSON")
    assert instance.json("queue", "inspect", "imgs.low")["queue"]["pending"] == 10_000
    mixed = instance.folder / "mixed.jsonl"
    mixed.write_text('{"n": 1}\n{"data": {}, "max_retries": 2}\n{"data": 3, "max_retry": 1}\n')
    partly = instance.remote("task", "enqueue", "-q", "imgs.low", "--file", str(mixed))
    assert partly.returncode == 1
    assert partly.stdout == "Enqueued 2 tasks in imgs.low; 1 failed.\n"
    assert partly.stderr.splitlines()[-2:] == [
        "line 2: jobs[1]: unknown field 'max_retries' (invalid_request)",
        "error: 1 of 3 tasks were not enqueued"]
    assert instance.json("queue", "inspect", "imgs.low")["queue"]["pending"] == 10_002
    deleted = instance.json("queue", "delete", "imgs.low", "--force")
    assert deleted == {"queue": "imgs.low", "deleted": True, "config_disabled": True}


@pytest.fixture()
def worker(instance: Instance) -> Iterator[str]:
    """The only worker: a fresh heartbeat as a runqy worker writes it (stale after 30 s), with
    two log lines, under a new id; deregistered after the test."""
    worker_id = f"gpu-{uuid.uuid4().hex[:8]}"
    client = instance.redis()
    started = time.time() - 120
    fields = worker_fields(worker_id=worker_id, started_at=started, healthy=True,
                           status="running", queues_in_order=["imgs.high", "imgs.low"],
                           priorities={"imgs.high": 5, "imgs.low": 1},
                           active_tasks=["task-a"], concurrency=2, metrics={},
                           recovery={"state": "idle", "consecutive_fails": 0,
                                     "total_restarts": 0})
    now_ms = int(time.time() * 1000)
    broker = Broker(client)
    broker.write_worker_heartbeat(worker_id, fields, [
        {"ts": now_ms, "src": "stdout", "text": "model loaded", "seq": 1},
        {"ts": now_ms, "src": "stderr", "text": "warming up", "seq": 2, "task_id": "task-a"}])
    yield worker_id
    broker.remove_worker(worker_id)
    client.close()


def test_worker_commands(instance: Instance, worker: str):
    table = instance.ok("worker", "list").splitlines()
    assert table[0].split() == ["WORKER_ID", "STATUS", "QUEUES", "CONCURRENCY", "LAST_BEAT",
                                "STALE"]
    row = table[1].split()
    assert row[:4] == [worker, "running", "imgs.high,imgs.low", "2"] and row[-1] == "no"
    assert row[4].endswith("s") and row[5] == "ago"
    assert instance.ok("worker", "list", local=True).splitlines()[1].split()[:4] == row[:4]
    listed = instance.json("worker", "list")
    assert listed["count"] == 1 and listed["workers"][0]["worker_id"] == worker

    info = instance.ok("worker", "info", worker)
    for expected in ("Worker ID:", worker, "Healthy:", "yes", "Started:", "(2m ago)",
                     "Active tasks:", "task-a", "model loaded", "warming up", "stderr"):
        assert expected in info, expected
    detail = instance.json("worker", "info", worker, local=True)
    assert detail["worker"]["active_tasks"] == ["task-a"] and len(detail["logs"]) == 2
    missing = instance.remote("worker", "info", "nope")
    assert missing.returncode == 1
    assert missing.stderr == "error: worker nope not found (404 worker_not_found)\n"


def test_go_cli_routes_answer_with_the_fields_it_reads(instance: Instance, worker: str):
    status, body, _ = _get(instance, "/workers")
    assert status == 200 and body["count"] == 1
    entry = body["workers"][0]
    # The Go CLI's WorkerInfoAPI: int64 times, an int, the raw queues string, a bool.
    assert set(entry) == {"worker_id", "started_at", "last_beat", "concurrency", "queues",
                          "status", "is_stale"}
    assert entry["worker_id"] == worker and entry["status"] == "running"
    assert isinstance(entry["started_at"], int) and isinstance(entry["last_beat"], int)
    assert abs(entry["last_beat"] - time.time()) < 60 and entry["concurrency"] == 2
    assert entry["queues"] == "map[imgs.high:5 imgs.low:1]" and entry["is_stale"] is False
    assert _get(instance, f"/workers/{worker}")[1] == entry
    status, body, _ = _get(instance, "/workers/nope")
    assert (status, body["code"]) == (404, "worker_not_found")

    status, body, _ = _get(instance, "/workers/queues")
    assert status == 200 and body["count"] == len(body["queues"])
    assert {"name": "imgs.high", "priority": 5} in body["queues"]
    status, body, _ = _get(instance, "/workers/reload", "POST")
    assert status == 200 and body["errors"] == [] and isinstance(body["timestamp"], int)
    assert "imgs.high" in body["reloaded"]

    unauthenticated = urllib.request.Request(instance.url + "/workers")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unauthenticated, timeout=10)  # noqa: S310 - loopback
    assert refused.value.code == 401

    status, spec, _ = _get(instance, "/swagger/doc.json")
    assert status == 200 and spec["openapi"] == "3.1.0" and "/api/queues" in spec["paths"]
    no_redirect = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as moved:
        no_redirect.open(instance.url + "/swagger/index.html", timeout=10)
    assert moved.value.code == 302 and moved.value.headers["Location"].endswith("/docs")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


@pytest.mark.usefixtures("configured")
def test_config_and_vault_commands(instance: Instance):
    configs = instance.ok("config", "list").splitlines()
    assert configs[0].split()[:4] == ["NAME", "SUB_QUEUES", "ENABLED", "SOURCE"]
    assert configs[1].split()[:4] == ["imgs", "high:5,low:1", "yes", "yaml"]
    got = instance.ok("config", "get", "imgs")
    assert got.startswith("queues:\n  imgs:\n") and "startup_cmd: python main.py" in got
    assert instance.json("config", "get", "imgs", local=True)["name"] == "imgs"

    valid = instance.run("config", "validate", "queues")
    assert valid.returncode == 0 and valid.stdout == "queues: valid (1 queue: imgs).\n"
    bad = instance.folder / "bad.yaml"
    bad.write_text("queues:\n  web:\n    deployment: {path: /srv}\n")
    invalid = instance.run("config", "validate", str(bad))
    assert invalid.returncode == 1
    assert invalid.stderr == ("error: bad.yaml: queues.web.deployment: startup_cmd is required "
                              "(422 invalid_config)\n")

    one = instance.folder / "web.json"
    one.write_text(json.dumps({"name": "web", "deployment": {
        "path": "/srv/web", "startup_cmd": "python web.py", "vaults": ["hf"]}}))
    created = instance.remote("config", "create", "-f", str(one))
    assert created.returncode == 0
    assert created.stdout == ("Saved queue configuration web.\n"
                              "  warning: vault 'hf' does not exist\n")
    again = instance.run("config", "create", "-f", str(one))
    assert again.returncode == 1 and again.stderr.endswith("(409 queue_config_exists)\n")
    assert instance.ok("config", "remove", "web") == "Queue configuration web disabled.\n"
    assert instance.json("config", "reload")["reloaded"] == ["imgs"]
    no_dir = instance.run("config", "reload")  # local mode: the directory is QUEUE_WORKERS_DIR
    assert no_dir.returncode == 1 and no_dir.stderr.endswith("(409 config_dir_unset)\n")
    with_dir = instance.run("config", "reload", env=instance.env(QUEUE_WORKERS_DIR="queues"))
    assert with_dir.returncode == 0 and with_dir.stdout == "Reloaded: imgs; disabled: none.\n"

    secret = "hf_0123456789abcdef"
    assert instance.ok("vault", "create", "hf", "-d", "tokens") == "Vault hf created.\n"
    assert instance.ok("vault", "set", "hf", "TOKEN", secret) == \
        "Set TOKEN in vault hf (secret).\n"
    assert instance.ok("vault", "set", "hf", "MODEL", "small", "--plain", local=True) == \
        "Set MODEL in vault hf (plain).\n"
    outputs = [instance.ok("vault", "entries", "hf"), instance.ok("vault", "list"),
               instance.ok("vault", "get", "hf", "TOKEN"),
               instance.ok("vault", "entries", "hf", "-o", "json", local=True)]
    assert [line.split()[:3] for line in outputs[0].splitlines()] == [
        ["KEY", "VALUE", "SECRET"], ["MODEL", "small", "no"], ["TOKEN", "********", "yes"]]
    assert outputs[1].splitlines()[1].split()[:3] == ["hf", "tokens", "2"]
    assert "Value:   ********" in outputs[2] and "Length:  19" in outputs[2]
    assert all(secret not in out for out in outputs)
    missing = instance.remote("vault", "get", "hf", "NOPE")
    assert missing.stderr == "error: vault 'hf' has no entry 'NOPE' (404 vault_entry_not_found)\n"

    assert instance.ok("config", "create", "-f", str(one), "--force").startswith("Saved")
    in_use = instance.remote("vault", "delete", "hf")
    assert in_use.returncode == 1 and in_use.stderr.endswith("(409 vault_in_use)\n")
    assert instance.ok("vault", "unset", "hf", "MODEL") == "Removed MODEL from vault hf.\n"
    assert instance.ok("vault", "delete", "hf", "--force", local=True) == "Vault hf deleted.\n"
    assert instance.ok("vault", "list") == "No vaults.\n"
