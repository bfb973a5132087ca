"""`runqy serve` with no configuration at all: embedded Redis and SQLite, persisted across runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.serve_process import ServeProcess, poll
from tests.support.redis_server import RedisServer

RUNQY = str(Path(sys.executable).parent / "runqy")


@pytest.fixture()
def folder(tmp_path):
    path = tmp_path / "empty"
    path.mkdir()
    return path


def test_serve_on_embedded_defaults_persists_tasks_key_and_secret(folder):
    if not Path(RUNQY).exists():
        pytest.skip("the runqy console script is not installed in this interpreter")
    first = ServeProcess(RUNQY, folder).start()
    try:
        key = first.admin_key_line()
        assert len(key) == 43, first.output()
        assert f"embedded 127.0.0.1:{first.redis_port}" in first.output()
        instance = folder / "instance"
        assert (instance / "admin-api-key").read_text().strip() == key
        assert instance.stat().st_mode & 0o777 == 0o700
        assert (instance / "redis" / "appendonly.aof").exists() or \
            (instance / "redis" / "appendonlydir").is_dir()
        secret = (instance / "secret-key").read_text()
        assert first.request("GET", "/healthz")[0] == 200
        status, _ = first.request("POST", "/api/queue-configs", {
            "name": "imgs", "deployment": {"path": "/srv", "startup_cmd": "python m.py"}}, key)
        assert status == 201
        status, body = first.request("POST", "/queue/add", {"queue": "imgs", "data": {"n": 1}},
                                     key)
        assert status == 200, body
        task_id = body["info"]["id"]
        assert first.request("GET", "/api/queues", key="wrong")[0] == 401
    finally:
        code = first.stop()
    assert code == 0, first.output()
    assert "shutting down" in first.output()
    poll(lambda: not (folder / "instance" / "redis" / "redis.pid").exists(), 10,
         what="the embedded Redis to stop")

    second = ServeProcess(RUNQY, folder, redis_port=first.redis_port).start()
    try:
        banner = second.output()
        assert key not in banner and f"{key[:4]}…{key[-4:]}" in banner
        status, body = second.request("GET", f"/queue/{task_id}", key=key)
        assert status == 200, body
        assert body["info"]["state"] == "pending" and body["info"]["payload"] == {"n": 1}
        assert (folder / "instance" / "secret-key").read_text() == secret
        assert "queues:      1 configured" in banner
    finally:
        assert second.stop() == 0, second.output()


def test_port_taken_by_something_else_stops_start_up(folder):
    if not Path(RUNQY).exists() or not shutil.which("redis-server"):
        pytest.skip("needs the runqy script and a redis-server")
    squatter = RedisServer().start()
    try:
        proc = ServeProcess(RUNQY, folder, redis_port=squatter.port)
        result = subprocess.run([RUNQY, "serve"], cwd=folder, env=proc.env(),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert f"port {squatter.port}" in result.stderr
        assert "RUNQY_EMBEDDED_REDIS_PORT" in result.stderr
    finally:
        squatter.stop()
