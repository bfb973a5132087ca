"""`runqy serve` with no configuration at all: embedded Redis and SQLite, persisted across runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.serve_process import ServeProcess
from tests.support.polling import poll_until
from tests.support.processes import running
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
    poll_until(lambda: not (folder / "instance" / "redis" / "redis.pid").exists(), timeout=10,
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


def worker_pids(server: ServeProcess) -> list[int]:
    """The forked workers: children running the parent's own command line (not its Redis)."""
    parent = server.process.pid
    command = Path(f"/proc/{parent}/cmdline").read_bytes()
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if Path(f"/proc/{pid}/cmdline").read_bytes() == command]


# Starts the server as a non-interactive shell's background job or a careless supervisor would:
# stop signals ignored and blocked, both inherited across exec.
DEAF_LAUNCHER = (sys.executable, "-c", "import os, signal, sys\n"
                 "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
                 "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})\n"
                 "os.execv(sys.argv[1], sys.argv[1:])")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_server_started_deaf_to_signals_still_stops_with_its_redis(folder, signum):
    if not Path(RUNQY).exists():
        pytest.skip("the runqy console script is not installed in this interpreter")
    server = ServeProcess(RUNQY, folder, launcher=DEAF_LAUNCHER).start()
    redis_pid_file = folder / "instance" / "redis" / "redis.pid"
    redis_pid = int(redis_pid_file.read_text())
    code = server.stop(timeout=20, signum=signum)  # SIGKILL if it ignored the signal
    assert code == 0, server.output()
    assert "shutting down" in server.output()
    assert not redis_pid_file.exists()
    assert not running(redis_pid)

@pytest.fixture()
def two_workers(folder):
    """`runqy serve --processes 2` in `folder`; stopped (if still running) after the test."""
    if not Path(RUNQY).exists():
        pytest.skip("the runqy console script is not installed in this interpreter")
    server = ServeProcess(RUNQY, folder, args=("--processes", "2")).start()
    yield server
    server.stop()


def test_workers_share_the_port_and_stop_together(folder, two_workers):
    server = two_workers
    workers = worker_pids(server)
    assert len(workers) == 2, workers
    try:
        key = server.admin_key_line()
        status, _ = server.request("POST", "/api/queue-configs", {
            "name": "imgs", "deployment": {"path": "/srv", "startup_cmd": "python m.py"}}, key)
        assert status == 201
        # The other worker may hold a one-second "not configured" answer from before.
        poll_until(lambda: server.request("POST", "/queue/add", {"queue": "imgs", "data": {}},
                                          key)[0] == 200, timeout=5,
                   what="the queue in every worker")
        for n in range(20):  # a new connection each: either worker may answer
            status, body = server.request("POST", "/queue/add",
                                          {"queue": "imgs", "data": {"n": n}}, key)
            assert status == 200, body
        status, body = server.request("GET", "/api/queues/imgs.default", key=key)
        assert status == 200 and body["queue"]["pending"] == 21, body
    finally:
        code = server.stop()
    assert code == 0, server.output()
    assert "shutting down" in server.output()
    assert not any(map(running, workers)), workers
    poll_until(lambda: not (folder / "instance" / "redis" / "redis.pid").exists(), timeout=10,
               what="the embedded Redis to stop")


def test_a_dead_worker_stops_the_server_with_an_error(folder, two_workers):
    server = two_workers
    workers = worker_pids(server)
    os.kill(workers[0], signal.SIGKILL)
    # Bounded: the other worker gets 10 s to stop before it is killed, the embedded Redis 12 s;
    # the rest is margin for a loaded machine.
    code = server.process.wait(60)
    assert code != 0
    assert f"worker process {workers[0]} exited" in server.output()
    assert not any(map(running, workers)), workers
    poll_until(lambda: not (folder / "instance" / "redis" / "redis.pid").exists(), timeout=10,
               what="the embedded Redis to stop")


def test_workers_stop_when_the_server_is_killed(two_workers):
    server = two_workers
    workers = worker_pids(server)
    assert len(workers) == 2, workers
    server.process.kill()  # no chance to stop its workers itself
    server.process.wait()
    poll_until(lambda: not any(map(running, workers)), timeout=30,
               what="the orphaned workers to stop")
